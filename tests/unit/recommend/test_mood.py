import numpy as np
import pytest

from moodtune.errors import InvalidInput
from moodtune.recommend import (
    EMOTIONS,
    PRESETS,
    emotion_probs,
    feature_targets,
    journey_points,
    mood_point,
    plan_mood,
    strategy_goal,
)
from moodtune.recommend.mood import heard_weight, resolve_goal


def test_single_label_is_probability_one() -> None:
    probs, normalized = emotion_probs("sad")
    assert probs[EMOTIONS.index("sad")] == 1.0 and probs.sum() == pytest.approx(1.0)
    assert not normalized


def test_weights_not_summing_to_one_are_normalised_and_flagged() -> None:
    probs, normalized = emotion_probs({"sad": 2.0, "happy": 2.0})
    assert normalized
    assert probs[EMOTIONS.index("sad")] == pytest.approx(0.5)


def test_the_largest_floats_are_normalised_without_overflow() -> None:
    """Found by the schemathesis run: 1.7e308 twice overflowed the sum (a 500)."""
    probs, normalized = emotion_probs({"sad": 1.7e308, "happy": 1.7e308, "fear": 5e-324})
    assert normalized and np.isfinite(probs).all()
    assert probs[EMOTIONS.index("sad")] == pytest.approx(0.5)


def test_probabilities_within_tolerance_are_not_flagged() -> None:
    _, normalized = emotion_probs({"sad": 0.3333, "happy": 0.3333, "neutral": 0.3333})
    assert not normalized


@pytest.mark.parametrize(
    ("emotions", "match"),
    [
        ("bored", "unknown emotion"),
        ({"sad": 0.5, "bored": 0.5}, "unknown emotion"),
        ({"sad": -0.1, "happy": 1.1}, "finite and >= 0"),
        ({"sad": float("nan")}, "finite and >= 0"),
        ({"sad": 0.0}, "sum to 0"),
        ({}, "at least one"),
    ],
    ids=["unknown-label", "unknown-key", "negative", "nan", "all-zero", "empty"],
)
def test_bad_emotions_are_rejected(emotions: object, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        emotion_probs(emotions)  # type: ignore[arg-type]


def test_mood_point_of_pure_emotion_is_its_circumplex_coordinate() -> None:
    probs, _ = emotion_probs("happy")
    np.testing.assert_allclose(mood_point(probs), [0.83, 0.53], atol=1e-6)


def test_mood_point_is_probability_weighted() -> None:
    probs, _ = emotion_probs({"happy": 0.5, "sad": 0.5})
    np.testing.assert_allclose(mood_point(probs), [(0.83 - 0.65) / 2, (0.53 - 0.27) / 2], atol=1e-6)


def test_larger_face_weighs_more() -> None:
    faces = np.stack([emotion_probs("happy")[0], emotion_probs("sad")[0]])
    point = mood_point(faces, face_areas=np.array([900.0, 100.0]))
    assert point[0] > 0.5  # dominated by the big happy face


@pytest.mark.parametrize(
    ("probs", "areas"),
    [
        (np.ones((2, 6)) / 6, None),
        (np.ones((2, 7)) / 7, np.array([1.0])),
        (np.ones((2, 7)) / 7, np.array([1.0, 0.0])),
    ],
    ids=["six-columns", "areas-length", "zero-area"],
)
def test_mood_point_rejects_bad_shapes(probs: np.ndarray, areas: np.ndarray | None) -> None:
    with pytest.raises(InvalidInput):
        mood_point(probs, face_areas=areas)


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_uplift_never_lowers_valence_and_calm_never_raises_arousal(emotion: str) -> None:
    point = mood_point(emotion_probs(emotion)[0])
    assert strategy_goal(point, "uplift")[0] >= point[0]
    assert strategy_goal(point, "calm")[1] <= point[1]
    np.testing.assert_array_equal(strategy_goal(point, "match"), point)


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_calm_is_always_positive_and_low_arousal_and_uplift_positive(emotion: str) -> None:
    point = mood_point(emotion_probs(emotion)[0])
    calm, uplift = strategy_goal(point, "calm"), strategy_goal(point, "uplift")
    assert calm[0] > 0 > calm[1]
    assert uplift[0] > 0 and uplift[1] > 0


def test_calm_depends_on_where_the_listener_starts() -> None:
    goals = {e: tuple(strategy_goal(mood_point(emotion_probs(e)[0]), "calm")) for e in EMOTIONS}
    assert len({goals["sad"], goals["angry"], goals["neutral"]}) == 3
    # from anger, calming keeps more arousal at first (iso principle); from sadness less valence
    assert goals["angry"][1] > goals["sad"][1]
    assert goals["sad"][0] < goals["neutral"][0]


def test_uplift_from_sad_is_hopeful_not_euphoric() -> None:
    sad = mood_point(emotion_probs("sad")[0])
    happy = mood_point(emotion_probs("happy")[0])
    lift = strategy_goal(sad, "uplift")
    assert 0 < lift[0] < happy[0] and lift[1] < happy[1]
    assert lift[0] < strategy_goal(mood_point(emotion_probs("neutral")[0]), "uplift")[0]


def test_journey_ends_at_the_goal_itself() -> None:
    angry = mood_point(emotion_probs("angry")[0])
    np.testing.assert_allclose(strategy_goal(angry, "journey"), [0.56, -0.31], atol=1e-6)


@pytest.mark.parametrize(
    ("emotion", "goal"),
    [("angry", "calm"), ("fear", "calm"), ("sad", "uplift"), ("neutral", "uplift")],
)
def test_auto_journey_goal_calms_agitation_and_lifts_the_rest(emotion: str, goal: str) -> None:
    assert resolve_goal(mood_point(emotion_probs(emotion)[0])) == goal


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="unknown strategy"):
        strategy_goal(np.zeros(2, np.float32), "dance")  # type: ignore[arg-type]


def test_journey_points_run_from_start_to_end() -> None:
    path = journey_points(np.array([-0.6, -0.3]), np.array([0.7, 0.3]), n_steps=5)
    assert path.shape == (5, 2)
    np.testing.assert_allclose(path[0], [-0.6, -0.3], atol=1e-6)
    np.testing.assert_allclose(path[-1], [0.7, 0.3], atol=1e-6)
    assert np.all(np.diff(path[:, 0]) > 0)
    with pytest.raises(InvalidInput):
        journey_points(np.zeros(2), np.ones(2), n_steps=0)


@pytest.mark.parametrize("preset", ["heard", "russell", "valence_energy", "seed002"])
def test_feature_targets_rise_with_valence_and_arousal(preset: str) -> None:
    low = feature_targets(np.array([-0.8, -0.6]), preset=preset).values
    high = feature_targets(np.array([0.8, 0.6]), preset=preset).values
    for name in set(low) & set(high) & {"valence", "energy", "tempo"}:
        assert high[name] > low[name], name


def test_every_preset_is_known_and_the_heard_one_is_the_default() -> None:
    assert set(PRESETS) == {"heard", "russell", "valence_energy", "seed002"}
    assert plan_mood("sad").preset == "heard"
    assert heard_weight("heard") > 0.5
    assert heard_weight("russell") == heard_weight("seed002") == 0.0


def test_old_mapping_maps_valence_and_arousal_linearly() -> None:
    targets = feature_targets(np.array([-0.65, -0.27]), preset="russell")
    assert targets.values["valence"] == pytest.approx((-0.65 + 1) / 2)
    assert targets.values["energy"] == pytest.approx((-0.27 + 1) / 2)


#: Seed 002's table 3.1 as DESIGN.md section 4 gives it (tempo, key, mode, loudness, valence,
#: energy; None = "–", not used).
SEED002_TABLE = {
    "angry": (140, 9, 0, -40, 0.8, 0.8),
    "disgust": (60, None, 0, None, 0.15, 0.65),
    "fear": (140, 9, None, -7, 0.2, 0.7),
    "happy": (120, 3, 1, None, 0.95, 0.8),
    "neutral": (65, 4, None, -3, 0.5, 0.25),
    "sad": (70, 2, 0, -5, 0, 0.3),
    "surprise": (130, 8, None, None, 0.2, 0.6),
}


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_seed002_preset_is_table_3_1_exactly(emotion: str) -> None:
    names = ("tempo", "key", "mode", "loudness", "valence", "energy")
    expected = {n: v for n, v in zip(names, SEED002_TABLE[emotion], strict=True) if v is not None}
    targets = feature_targets(mood_point(emotion_probs(emotion)[0]), preset="seed002")
    assert targets.values == expected
    assert set(targets.weights) == set(expected)


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown preset") as info:
        feature_targets(np.zeros(2), preset="nope")
    assert set(info.value.details["known"]) == set(PRESETS)


def test_plan_has_one_target_per_journey_step_and_one_otherwise() -> None:
    assert len(plan_mood("sad", strategy="journey", n=7).targets) == 7
    assert len(plan_mood("sad", strategy="uplift", n=7).targets) == 1
    with pytest.raises(InvalidInput, match="n must be"):
        plan_mood("sad", n=0)
