"""Pure recommender core: emotions -> circumplex -> feature targets -> ranked, explained tracks.

Public names: ``EMOTIONS``, ``STRATEGIES``, ``PRESETS``, ``FEATURES``, ``POPULARITY_TARGETS``,
``emotion_probs``, ``mood_point``, ``strategy_goal``, ``journey_points``, ``feature_targets``,
``plan_mood``, ``MoodPlan``, ``TrackMatrix``, ``RankQuery``, ``RankedTrack``, ``rank``.
No database or web imports here (a unit test enforces it).
"""

from moodtune.recommend.mood import (
    EMOTIONS,
    PRESETS,
    STRATEGIES,
    FeatureTargets,
    emotion_probs,
    feature_targets,
    journey_points,
    mood_point,
    strategy_goal,
)
from moodtune.recommend.plan import MoodPlan, plan_mood
from moodtune.recommend.rank import (
    FEATURES,
    POPULARITY_TARGETS,
    RankedTrack,
    RankQuery,
    TrackMatrix,
    rank,
)

__all__ = [
    "EMOTIONS",
    "FEATURES",
    "POPULARITY_TARGETS",
    "PRESETS",
    "STRATEGIES",
    "FeatureTargets",
    "MoodPlan",
    "RankQuery",
    "RankedTrack",
    "TrackMatrix",
    "emotion_probs",
    "feature_targets",
    "journey_points",
    "mood_point",
    "plan_mood",
    "rank",
    "strategy_goal",
]
