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
    heard_weight,
    journey_points,
    mood_point,
    resolve_goal,
    strategy_goal,
)

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
    intents: list[str]

    @property
    def dominant(self) -> str:
        return EMOTIONS[int(np.argmax(self.probs))]


def plan_mood(
    emotions: EmotionInput,
    *,
    strategy: Strategy = "match",
    n: int = 10,
    preset: str = "heard",
    goal: Goal = "auto",
) -> MoodPlan:
    """Resolve emotions and a strategy into feature targets and listener-facing intents.

    ``journey`` gets ``n`` targets along the straight path from the current point to the goal
    (iso principle: start where the listener is); the other strategies get one target.
    """
    if not 1 <= n <= 100:
        raise InvalidInput(f"n must be between 1 and 100, got {n}")
    probs, normalized = emotion_probs(emotions)
    point = mood_point(probs)
    target = strategy_goal(point, strategy, goal=goal)
    goal_name = (
        None
        if strategy == "match"
        else (resolve_goal(point, goal) if strategy == "journey" else strategy)
    )
    path = journey_points(point, target, n_steps=n) if strategy == "journey" else target[None, :]
    dominant = EMOTIONS[int(np.argmax(probs))]
    return MoodPlan(
        probs=probs,
        normalized=normalized,
        point=point,
        goal=target,
        path=path,
        strategy=strategy,
        goal_name=goal_name,
        preset=preset,
        targets=[feature_targets(p, preset=preset) for p in path],
        heard_weight=heard_weight(preset),
        intents=_intents(strategy, dominant, goal_name, len(path)),
    )


def _intents(strategy: Strategy, dominant: str, goal_name: str | None, n_targets: int) -> list[str]:
    if strategy == "match":
        return [f"matches your {dominant} mood"]
    if strategy == "uplift":
        return [
            "keeps your happy mood up" if dominant == "happy" else f"to lift your {dominant} mood"
        ]
    if strategy == "calm":
        return ["to help you calm down"]
    destination = "a calmer mood" if goal_name == "calm" else "a brighter mood"
    return [
        f"step {i + 1} of {n_targets} from {dominant} toward {destination}"
        for i in range(n_targets)
    ]
