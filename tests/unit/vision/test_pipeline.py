"""When a reading is marked uncertain, and why: known answers for the two reasons."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from moodtune.errors import NoFace
from moodtune.vision.faces import Face
from moodtune.vision.pipeline import SMALL_FACE, EmotionPipeline, top_margin, uncertain_reasons

ASTRONAUT = Path(__file__).resolve().parents[2] / "fixtures" / "astronaut.jpg"

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


@pytest.fixture(scope="module")
def pipeline() -> EmotionPipeline:
    return EmotionPipeline.default()


@pytest.mark.parametrize("radius", [0, 2])
def test_a_sharp_face_is_read_with_confidence(pipeline: EmotionPipeline, radius: int) -> None:
    reading = pipeline.analyse(_blurred(radius))
    assert reading.faces[0].uncertain == () and reading.uncertain == ()


@pytest.mark.parametrize("radius", [8, 12, 16, 24])
def test_a_face_too_blurred_to_read_is_never_a_confident_guess(
    pipeline: EmotionPipeline, radius: int
) -> None:
    """Blur lowers the detector's score below the quality gate (no face) or flattens the
    probabilities into a close call; either way the listener is asked, not guessed for."""
    try:
        reading = pipeline.analyse(_blurred(radius))
    except NoFace:
        return
    assert "close_call" in reading.uncertain


def _blurred(radius: int) -> bytes:
    """The astronaut photo (face about 90 px wide) under a Gaussian blur of ``radius`` px."""
    out = io.BytesIO()
    Image.open(ASTRONAUT).filter(ImageFilter.GaussianBlur(radius)).save(out, "JPEG", quality=90)
    return out.getvalue()
