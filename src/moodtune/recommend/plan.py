"""From emotions and a strategy to the targets a playlist is ranked against, with the why."""

from dataclasses import dataclass

import numpy as np

from moodtune.errors import InvalidInput
from moodtune.recommend.mood import (
    EMOTIONS,
    EmotionInput,
    FeatureTargets,
    Goal,
    Strategy,
    emotion_probs,
    feature_targets,
    feeling_point,
    heard_weight,
    journey_points,
    mood_point,
    nearest_emotion,
    resolve_goal,
    strategy_goal,
)
from moodtune.recommend.reasons import Reason

__all__ = ["MoodPlan", "plan_mood"]


@dataclass(frozen=True)
class MoodPlan:
    """Everything the ranker and a response need to know about the listener's mood."""

    probs: np.ndarray  # (7,) float32 in EMOTIONS order
    normalized: bool  # the input probabilities were rescaled to sum to 1
    point: np.ndarray  # (2,) current (valence, arousal)
    goal: np.ndarray  # (2,) where the strategy aims
    path: np.ndarray  # (n_targets, 2): one point, or one per position for a journey
    strategy: Strategy
    goal_name: str | None  # "uplift"/"calm" for journey, uplift and calm; None for match
    preset: str
    targets: list[FeatureTargets]
    heard_weight: float  # share of the score for heard-mood nearness to ``path``
    intents: list[Reason]
    feeling: str | None = None  # the named feeling the listener chose, if any

    @property
    def dominant(self) -> str:
        return EMOTIONS[int(np.argmax(self.probs))]


def _chosen_mood(
    emotions: EmotionInput | None,
    point: tuple[float, float] | None,
    feeling: str | None,
) -> tuple[np.ndarray, bool, np.ndarray]:
    """(probabilities, normalized, point) from exactly one way of saying the mood. A point or a
    feeling is used as it is; its probabilities are the nearest emotion's (for the words)."""
    given = sum(x is not None for x in (emotions, point, feeling))
    if given != 1:
        raise InvalidInput("give exactly one of emotions, a point or a feeling")
    if emotions is not None:
        probs, normalized = emotion_probs(emotions)
        return probs, normalized, mood_point(probs)
    chosen = feeling_point(feeling) if feeling is not None else np.asarray(point, np.float32)
    if chosen.shape != (2,) or not np.all(np.abs(chosen) <= 1.0):
        raise InvalidInput(f"a point is (valence, arousal), each in -1..1; got {point}")
    probs = np.zeros(len(EMOTIONS), np.float32)
    probs[EMOTIONS.index(nearest_emotion(chosen))] = 1.0
    return probs, False, chosen


def plan_mood(
    emotions: EmotionInput | None = None,
    *,
    point: tuple[float, float] | None = None,
    feeling: str | None = None,
    strategy: Strategy = "match",
    n: int = 10,
    preset: str = "heard",
    goal: Goal = "auto",
) -> MoodPlan:
    """Resolve a mood (emotions, a circumplex point or a named feeling) and a strategy into
    feature targets and listener-facing intents.

    ``journey`` gets ``n`` targets along the straight path from the current point to the goal
    (iso principle: start where the listener is); the other strategies get one target.
    """
    if not 1 <= n <= 100:
        raise InvalidInput(f"n must be between 1 and 100, got {n}")
    probs, normalized, here = _chosen_mood(emotions, point, feeling)
    target = strategy_goal(here, strategy, goal=goal)
    goal_name = (
        None
        if strategy == "match"
        else (resolve_goal(here, goal) if strategy == "journey" else strategy)
    )
    path = journey_points(here, target, n_steps=n) if strategy == "journey" else target[None, :]
    dominant = EMOTIONS[int(np.argmax(probs))]
    return MoodPlan(
        probs=probs,
        normalized=normalized,
        point=here,
        goal=target,
        path=path,
        strategy=strategy,
        goal_name=goal_name,
        preset=preset,
        targets=[feature_targets(p, preset=preset) for p in path],
        heard_weight=heard_weight(preset),
        intents=_intents(
            strategy,
            f"feeling_{feeling}" if feeling else f"emotion_{dominant}",
            dominant,
            goal_name,
            len(path),
        ),  # fmt: skip
        feeling=feeling,
    )


def _intents(
    strategy: Strategy, word: str, dominant: str, goal_name: str | None, n_targets: int
) -> list[Reason]:
    """Why each target fits, as codes (``intent_*`` in the i18n tables); ``word`` names the
    mood (``emotion_sad``, ``feeling_tired``)."""
    emotion = {"emotion": word}
    if strategy == "match":
        return [Reason("intent_match", emotion)]
    if strategy == "uplift":
        return [
            Reason("intent_keep_happy") if dominant == "happy" else Reason("intent_lift", emotion)
        ]
    if strategy == "calm":
        return [Reason("intent_calm")]
    destination = "destination_calm" if goal_name == "calm" else "destination_bright"
    return [
        Reason(
            "intent_step",
            {"step": i + 1, "steps": n_targets, **emotion, "destination": destination},
        )
        for i in range(n_targets)
    ]
