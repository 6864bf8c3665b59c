"""Emotions -> a point on Russell's circumplex -> a strategy's goal -> weighted feature targets.

The numbers live in ``tables/circumplex.toml`` and ``tables/presets.toml`` with their sources;
this module only reads and applies them.
"""

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import numpy as np

from moodtune.errors import InvalidInput

__all__ = [
    "EMOTIONS",
    "FEELINGS",
    "PRESETS",
    "STRATEGIES",
    "EmotionInput",
    "FeatureTargets",
    "Goal",
    "Strategy",
    "emotion_probs",
    "feeling_point",
    "nearest_emotion",
    "feature_targets",
    "heard_weight",
    "journey_points",
    "mood_point",
    "resolve_goal",
    "strategy_goal",
]

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
STRATEGIES: tuple[str, ...] = ("match", "uplift", "calm", "journey")
Strategy = Literal["match", "uplift", "calm", "journey"]
Goal = Literal["auto", "uplift", "calm"]
EmotionInput = str | Mapping[str, float]

#: Tolerance within which probabilities count as already summing to 1.
_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class FeatureTargets:
    """Target value (raw units: tempo BPM, loudness dB, key 0-11, rest 0..1) and relative
    weight per feature name; a feature without a weight is not used."""

    values: Mapping[str, float]
    weights: Mapping[str, float]


@cache
def _table(name: str) -> dict[str, Any]:
    text = resources.files("moodtune.recommend").joinpath("tables", name).read_text("utf-8")
    return tomllib.loads(text)


@cache
def _circumplex() -> np.ndarray:
    """(7, 2) float32 coordinates in ``EMOTIONS`` order."""
    rows = _table("circumplex.toml")["emotions"]
    return np.array([[rows[e]["valence"], rows[e]["arousal"]] for e in EMOTIONS], np.float32)


def _feelings() -> dict[str, tuple[float, float]]:
    rows = _table("circumplex.toml")["feelings"]
    return {name: (float(r["valence"]), float(r["arousal"])) for name, r in rows.items()}


#: Named points a listener can choose instead of a photo's reading (tables/circumplex.toml).
FEELINGS: tuple[str, ...] = tuple(_feelings())


def feeling_point(name: str) -> np.ndarray:
    """The circumplex point of a named feeling (calm, tired, focused, bored, content)."""
    points = _feelings()
    if name not in points:
        raise InvalidInput(f"unknown feeling {name!r}; known: {', '.join(points)}")
    return np.array(points[name], np.float32)


def nearest_emotion(point: np.ndarray) -> str:
    """The FER emotion whose circumplex point is nearest: the words for a chosen point."""
    distances = np.linalg.norm(_circumplex() - np.asarray(point, np.float32), axis=1)
    return EMOTIONS[int(np.argmin(distances))]


def _presets() -> dict[str, Any]:
    return {k: v for k, v in _table("presets.toml").items() if isinstance(v, dict)}


PRESETS: tuple[str, ...] = tuple(_presets())


def emotion_probs(emotions: EmotionInput) -> tuple[np.ndarray, bool]:
    """Turn one label or a label->probability mapping into a probability vector.

    Parameters
    ----------
    emotions : str or Mapping[str, float]
        A label from ``EMOTIONS`` (probability 1), or non-negative weights per label; absent
        labels count as 0.

    Returns
    -------
    probs : np.ndarray [shape=(7,)], float32, sums to 1
    normalized : bool
        True when the weights did not sum to 1 (within 1e-3) and were divided by their sum.
        Weights are normalised rather than rejected so that scores from other classifiers
        (e.g. logits passed through softmax with rounding) can be used directly.
    """
    if isinstance(emotions, str):
        emotions = {emotions: 1.0}
    if not emotions:
        raise InvalidInput("emotions must name at least one emotion", known=list(EMOTIONS))
    unknown = sorted(set(emotions) - set(EMOTIONS))
    if unknown:
        raise InvalidInput(
            f"unknown emotion label(s): {', '.join(unknown)}", unknown=unknown, known=list(EMOTIONS)
        )
    probs = np.array([float(emotions.get(e, 0.0)) for e in EMOTIONS], dtype=np.float64)
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        bad = {
            e: emotions[e]
            for e in emotions
            if not (math.isfinite(emotions[e]) and emotions[e] >= 0)
        }
        raise InvalidInput("emotion probabilities must be finite and >= 0", invalid=bad)
    peak = float(probs.max())
    if peak <= 0:
        raise InvalidInput("emotion probabilities sum to 0; at least one must be positive")
    scaled = probs / peak  # huge weights (1e308 each) would overflow a plain sum
    total = float(scaled.sum()) * peak  # a Python float: inf here, never a warning
    normalized = abs(total - 1.0) > _SUM_TOLERANCE
    return (scaled / scaled.sum()).astype(np.float32), normalized


def mood_point(probs: np.ndarray, *, face_areas: np.ndarray | None = None) -> np.ndarray:
    """Blend per-face emotion probabilities into one (valence, arousal) point.

    Parameters
    ----------
    probs : np.ndarray [shape=(n_faces, 7) or (7,)], rows sum to 1
        Class probabilities in ``EMOTIONS`` order.
    face_areas : np.ndarray [shape=(n_faces,)] or None
        Box areas in pixels²; larger faces weigh more. ``None`` weighs faces equally.

    Returns
    -------
    point : np.ndarray [shape=(2,)], float32, each in [-1, 1]
        ``point = Σ_f w[f] * (probs[f] @ CIRCUMPLEX)`` with ``w = face_areas / face_areas.sum()``.

    See Also
    --------
    feature_targets : point -> Spotify-style feature targets.
    """
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float32))
    if probs.ndim != 2 or probs.shape[1] != len(EMOTIONS):
        raise InvalidInput(f"probs must have 7 columns, got shape={probs.shape}")
    if face_areas is None:
        weights = np.full(len(probs), 1.0 / len(probs), dtype=np.float32)
    else:
        areas = np.asarray(face_areas, dtype=np.float32)
        if areas.shape != (len(probs),) or np.any(areas <= 0):
            raise InvalidInput(f"face_areas must be {len(probs)} positive numbers, got {areas}")
        weights = areas / areas.sum()
    point = weights @ (probs @ _circumplex())
    return np.asarray(np.clip(point, -1.0, 1.0), dtype=np.float32)


def resolve_goal(point: np.ndarray, goal: Goal = "auto") -> Literal["uplift", "calm"]:
    """Pick a journey's destination: ``auto`` calms agitated negative moods, lifts the rest.

    Negative valence with positive arousal (angry, fear) is the region where music therapy's iso
    principle aims for relaxation first; everywhere else the goal is a lift.
    """
    if goal != "auto":
        return goal
    valence, arousal = float(point[0]), float(point[1])
    return "calm" if valence < 0 and arousal > 0.25 else "uplift"


def strategy_goal(point: np.ndarray, strategy: Strategy, *, goal: Goal = "auto") -> np.ndarray:
    """The circumplex point a strategy aims at, starting from the listener's ``point``.

    ``match`` stays. ``journey`` ends at the goal itself (``goal`` resolved by
    :func:`resolve_goal`), reached step by step. A static ``uplift`` or ``calm`` list follows
    the iso principle: it aims at the goal pulled back toward the listener by the goal's
    ``iso_share`` (so calm from angry keeps more arousal than calm from sad, and a lift from
    sadness stops at hopeful rather than euphoric), kept ``margin`` inside the goal's quadrant.
    Neither lowers valence; calm never raises arousal.
    """
    point = np.asarray(point, dtype=np.float32)
    if strategy not in STRATEGIES:
        raise InvalidInput(f"unknown strategy {strategy!r}", known=list(STRATEGIES))
    if strategy == "match":
        return point.copy()
    name = resolve_goal(point, goal) if strategy == "journey" else strategy
    row = _table("circumplex.toml")["goals"][name]
    full = np.array([row["valence"], row["arousal"]], dtype=np.float32)
    share = 0.0 if strategy == "journey" else float(row["iso_share"])
    valence, arousal = full + share * (point - full)
    margin = float(row["margin"])
    valence = max(valence, margin, float(point[0]))
    if name == "calm":
        arousal = min(arousal, -margin, float(point[1]))
    else:
        arousal = max(arousal, margin)
    return np.array([valence, arousal], dtype=np.float32)


def journey_points(start: np.ndarray, end: np.ndarray, *, n_steps: int) -> np.ndarray:
    """Points from ``start`` to ``end`` for an iso-principle journey, one per track.

    Returns
    -------
    points : np.ndarray [shape=(n_steps, 2)], float32
        Linear interpolation with ``points[0] = start`` and ``points[-1] = end`` (one point,
        ``start``, when ``n_steps == 1``).
    """
    if n_steps < 1:
        raise InvalidInput(f"n_steps must be >= 1, got {n_steps}")
    t = (
        np.linspace(0.0, 1.0, n_steps, dtype=np.float32)[:, None]
        if n_steps > 1
        else np.zeros((1, 1))
    )
    start = np.asarray(start, dtype=np.float32)
    return np.asarray(start + t * (np.asarray(end, dtype=np.float32) - start), dtype=np.float32)


def heard_weight(preset: str) -> float:
    """Share of the score that the heard-mood distance gets under ``preset`` (0 = none)."""
    spec = _preset(preset)
    return float(spec["heard_weight"]) if spec["kind"] == "heard" else 0.0


def feature_preset_weights() -> dict[str, float]:
    """The largest weight each feature gets in the presets that rank by features alone
    (``linear`` and ``table``): what cells for those rankings split on."""
    weights: dict[str, float] = {}
    for spec in _presets().values():
        if spec["kind"] == "heard":
            continue
        given = spec["weights"] if spec["kind"] == "table" else {
            name: f["weight"] for name, f in spec["features"].items()
        }  # fmt: skip
        for name, weight in given.items():
            weights[name] = max(weights.get(name, 0.0), float(weight))
    return weights


def _preset(name: str) -> dict[str, Any]:
    presets = _presets()
    if name not in presets:
        raise InvalidInput(f"unknown preset {name!r}", known=list(presets))
    spec: dict[str, Any] = presets[name]
    return spec


def feature_targets(point: np.ndarray, *, preset: str = "heard") -> FeatureTargets:
    """Map a circumplex point to Spotify-style feature targets with weights.

    Parameters
    ----------
    point : np.ndarray [shape=(2,)]
        (valence, arousal), each in [-1, 1].
    preset : str
        A name from ``PRESETS`` (``tables/presets.toml``).

    Returns
    -------
    FeatureTargets
        ``heard`` and ``linear`` presets: ``clip(intercept + valence*v + arousal*a, min, max)``
        per feature (a ``heard`` preset ranks mostly by heard mood, see :func:`heard_weight`);
        ``table`` presets: the row of the emotion nearest to ``point``, with the weights of the
        features that row uses.
    """
    spec = _preset(preset)
    valence, arousal = (float(x) for x in np.asarray(point, dtype=np.float32))
    if spec["kind"] in ("linear", "heard"):
        feats = spec["features"]
        values = {
            name: min(
                max(f["intercept"] + f["valence"] * valence + f["arousal"] * arousal, f["min"]),
                f["max"],
            )
            for name, f in feats.items()
        }
        return FeatureTargets(values=values, weights={n: f["weight"] for n, f in feats.items()})
    dist2 = ((_circumplex() - np.array([valence, arousal], np.float32)) ** 2).sum(axis=1)
    row = spec["rows"][EMOTIONS[int(np.argmin(dist2))]]
    return FeatureTargets(
        values={name: float(v) for name, v in row.items()},
        weights={name: float(spec["weights"][name]) for name in row},
    )
