import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from moodtune.errors import InvalidInput, ModelError
from moodtune.recommend import TrackMatrix, emotion_probs, mood_point
from moodtune.recommend.heard import DEFAULT_HEARD_MODEL, QUADRANTS, HeardMoodModel

MOOD_LABELS = Path(__file__).resolve().parents[4] / "shared" / "data" / "music_mood_tags_dev.csv"
SAD, HAPPY = (mood_point(emotion_probs(e)[0]) for e in ("sad", "happy"))


@pytest.fixture(scope="module")
def model() -> HeardMoodModel:
    return HeardMoodModel.from_path()


def _one_hot(quadrant: str) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[[QUADRANTS.index(quadrant)]]


def test_a_damaged_model_file_is_refused(tmp_path: Path) -> None:
    for name in ("heard.json", "heard.npz"):
        shutil.copy(DEFAULT_HEARD_MODEL.parent / name, tmp_path / name)
    data = bytearray((tmp_path / "heard.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "heard.npz").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        HeardMoodModel.from_path(tmp_path / "heard.json")


def test_components_sit_in_their_own_quadrants(model: HeardMoodModel) -> None:
    signs = np.sign(model.means_)
    np.testing.assert_array_equal(signs, [[1, 1], [-1, 1], [-1, -1], [1, -1]])


def test_a_sad_heard_track_is_nearer_to_sad_than_to_happy(model: HeardMoodModel) -> None:
    closeness = model.closeness(np.vstack([_one_hot("Q3"), _one_hot("Q1")]), np.stack([SAD, HAPPY]))
    assert closeness.shape == (2, 2)
    assert np.all((closeness >= 0) & (closeness <= 1))
    assert closeness[0, 0] > closeness[1, 0]  # the sad track, sad target vs happy target
    assert closeness[0, 0] > closeness[0, 1]  # for the sad target, the sad track wins


def test_library_tracks_are_calibrated_into_the_same_space(model: HeardMoodModel) -> None:
    cnn = np.array([[0.05, 0.05, 0.1, 0.8], [0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    heard = model.place_audio(cnn)
    assert heard.point[0, 0] > 0 > heard.point[0, 1]  # a calm CNN output is heard in Q4
    assert heard.point[1, 0] > 0 and heard.point[1, 1] > 0
    # the fitted temperature (> 1: the CNN is over-confident) softens without reordering
    assert model.audio_temperature > 1
    assert heard.probs[0, 3] < 0.8 and np.argmax(heard.probs[0]) == 3
    # undecided audio is the most uncertain placement
    assert heard.spread[2] > heard.spread[0]
    # a certain CNN answer lands on the same component a certain catalog answer would
    certain = model.place_audio(np.array([[1e-6, 1e-6, 1.0, 1e-6]]))
    np.testing.assert_allclose(certain.point[0], model.means_[2], atol=0.05)


def test_analysed_tracks_are_placed_by_audio_and_catalog_tracks_by_features() -> None:
    matrix = TrackMatrix.build(
        ids=[1, 2],
        features={"valence": [0.5, 0.5], "energy": [0.5, 0.5]},
        popularity=[None, None],
        explicit=[None, None],
        artists=[["A"], ["B"]],
        titles=["x", "y"],
        genres=[[], []],
        quadrants=[None, {"Q1": 0.02, "Q2": 0.02, "Q3": 0.94, "Q4": 0.02}],
    )
    assert matrix.heard_from_audio.tolist() == [False, True]
    assert int(np.argmax(matrix.heard.probs[1])) == QUADRANTS.index("Q3")


@pytest.mark.parametrize(
    "probs", [np.ones((2, 3)), -np.ones((1, 4))], ids=["three-columns", "negative"]
)
def test_place_audio_rejects_bad_probabilities(model: HeardMoodModel, probs: np.ndarray) -> None:
    with pytest.raises(InvalidInput, match="quadrant probabilities"):
        model.place_audio(probs)


def test_catalog_inputs_must_be_complete(model: HeardMoodModel) -> None:
    with pytest.raises(InvalidInput, match="heard-mood inputs missing"):
        model.place_catalog({"valence": np.zeros(1)}, [[]])


def test_tracks_listeners_call_sad_rank_higher_for_sad_than_for_happy(
    real_matrix: TrackMatrix, catalog_rows: list[dict[str, str]]
) -> None:
    """On the labels' validation tracks (never trained on): tracks listeners hear in Q3 are
    nearer to the sad point than to the happy one, and nearer to it than the Q1 tracks."""
    if not MOOD_LABELS.exists():
        pytest.skip(f"human mood labels not available at {MOOD_LABELS}")
    with MOOD_LABELS.open(newline="", encoding="utf-8") as handle:
        labels = {r["spotify_id"]: r["quadrant"] for r in csv.DictReader(handle)
                  if r["source_split"] == "validation"}  # fmt: skip
    row_of = {int(i): r for r, i in enumerate(real_matrix.ids.tolist())}
    rows = {
        q: [
            row_of[i]
            for i, c in enumerate(catalog_rows)
            if labels.get(c["track_id"]) == q and i in row_of
        ]
        for q in ("Q1", "Q3")
    }
    model = real_matrix.heard_model
    targets = np.stack([SAD, HAPPY])
    sad_tracks = model.closeness(real_matrix.heard.probs[rows["Q3"]], targets)
    happy_tracks = model.closeness(real_matrix.heard.probs[rows["Q1"]], targets)
    assert len(rows["Q3"]) > 50 and len(rows["Q1"]) > 100
    assert (sad_tracks[0] - sad_tracks[1]).mean() > (happy_tracks[0] - happy_tracks[1]).mean()
    assert sad_tracks[0].mean() > happy_tracks[0].mean()
