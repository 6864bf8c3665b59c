import numpy as np
import pytest

from moodtune.errors import InvalidInput
from moodtune.i18n import render_reason
from moodtune.recommend.reasons import Reason
from moodtune.recommend.similar import EmbeddingTable, nearest, similarity_reasons


def _table() -> EmbeddingTable:
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.7, 0.7, 0], [-1, 0, 0]], np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return EmbeddingTable(np.array([10, 11, 12, 13, 14]), vectors)


def test_nearest_is_ordered_by_cosine_and_excludes_the_track() -> None:
    found = nearest(_table(), 10, n=10)
    assert [i for i, _ in found] == [11, 13, 12, 14]
    assert found[0][1] == pytest.approx(0.9939, abs=1e-4) and found[-1][1] == pytest.approx(-1.0)
    assert [i for i, _ in nearest(_table(), 10, n=2)] == [11, 13]


def test_unknown_track_and_tiny_tables() -> None:
    with pytest.raises(InvalidInput):
        nearest(_table(), 99)
    single = EmbeddingTable(np.array([1]), np.ones((1, 3), np.float32))
    assert nearest(single, 1) == []
    with pytest.raises(InvalidInput):
        EmbeddingTable(np.array([1, 2]), np.ones((1, 3), np.float32))


def test_reasons_name_the_sound_the_style_and_the_tempo() -> None:
    a = {"tempo": 120.0, "valence": 0.5, "energy": 0.5}
    b = {"tempo": 123.0, "valence": 0.55, "energy": 0.45}
    reasons = similarity_reasons(0.91, a, b, {"jazz": 0.8, "blues": 0.2}, {"jazz": 0.6})
    assert [render_reason(r) for r in reasons] == [
        "Sounds alike (91% similar)",
        "Both jazz",
        "Similar tempo (~123 BPM)",
    ]
    far = similarity_reasons(0.2, a, {"tempo": 180.0, "valence": 0.9, "energy": 0.9}, {}, {})
    assert far == (Reason("sounds_alike", {"percent": 20}),)
