"""When a reading is marked uncertain, and why: known answers for the two reasons."""

import numpy as np
import pytest

from moodtune.vision.faces import Face
from moodtune.vision.pipeline import SMALL_FACE, top_margin, uncertain_reasons

BIG = Face(box=(0, 0, 120, 140), score=0.95)
SMALL = Face(box=(0, 0, SMALL_FACE - 1, 60), score=0.95)
CLEAR = np.array([0.05, 0.0, 0.0, 0.85, 0.0, 0.0, 0.10])  # happy far ahead of neutral
CLOSE = np.array([0.0, 0.0, 0.0, 0.45, 0.40, 0.0, 0.15])  # happy only just ahead of sad


def test_top_margin_is_the_gap_between_the_two_best() -> None:
    assert top_margin(CLEAR) == pytest.approx(0.75)
    assert top_margin(CLOSE) == pytest.approx(0.05)
    assert top_margin(np.full(7, 1 / 7)) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("probs", "faces", "expected"),
    [
        (CLEAR, [BIG], []),
        (CLOSE, [BIG], ["close_call"]),
        (CLEAR, [SMALL], ["small_face"]),
        (CLOSE, [SMALL], ["close_call", "small_face"]),
        (CLEAR, [SMALL, BIG], []),  # one face large enough to read is enough
    ],
)
def test_reasons(probs: np.ndarray, faces: list[Face], expected: list[str]) -> None:
    assert uncertain_reasons(probs, faces, margin=0.5) == expected


def test_the_margin_is_strict() -> None:
    assert uncertain_reasons(CLOSE, [BIG], margin=0.05 - 1e-9) == []
    assert uncertain_reasons(CLOSE, [BIG], margin=0.05 + 1e-9) == ["close_call"]
