"""Known answers for face alignment: eyes land on the canonical spot, rotation is undone."""

import math

import numpy as np
import pytest

from moodtune.errors import InvalidInput
from moodtune.vision.align import (
    CANONICAL_EYE_TO_MOUTH,
    CANONICAL_EYES,
    align_face,
    alignment_matrix,
)


def synthetic_landmarks(centre, eye_distance, angle_deg):
    """5 YuNet-order points of an upright face (mouth 1x eye distance below), rotated."""
    upright = np.array([[-0.5, 0], [0.5, 0], [0, 0.5], [-0.4, 1.0], [0.4, 1.0]]) * eye_distance
    a = math.radians(angle_deg)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return upright @ rotation.T + np.asarray(centre)


@pytest.mark.parametrize("angle", [0.0, 17.0, -30.0])
def test_eyes_land_on_the_canonical_position(angle):
    points = synthetic_landmarks((300.0, 200.0), 18.0, angle)
    m = alignment_matrix(points)
    eyes = np.c_[points[:2], np.ones(2)] @ m.T
    assert eyes[1, 1] == pytest.approx(eyes[0, 1], abs=1e-6)  # eye line level: rotation undone
    mid = eyes.mean(axis=0)
    assert mid == pytest.approx(np.mean(CANONICAL_EYES, axis=0), abs=1e-6)


def test_scale_follows_the_face_size():
    small = alignment_matrix(synthetic_landmarks((50, 50), 18.0, 0))
    big = alignment_matrix(synthetic_landmarks((500, 500), 180.0, 0))
    assert math.sqrt(np.linalg.det(big[:, :2])) == pytest.approx(
        math.sqrt(np.linalg.det(small[:, :2])) / 10
    )
    assert CANONICAL_EYE_TO_MOUTH > 0


def test_aligned_crop_puts_a_dark_eye_where_expected():
    """A white image with two dark eye dots, rotated 20 degrees: the crop has them level."""
    pixels = np.full((400, 400, 3), 255, np.uint8)
    points = synthetic_landmarks((200.0, 180.0), 90.0, 20.0)
    for x, y in points[:2]:
        yy, xx = np.mgrid[0:400, 0:400]
        pixels[(xx - x) ** 2 + (yy - y) ** 2 <= 36] = 0
    crop = align_face(pixels, points)
    assert crop.shape == (48, 48)
    for cx, cy in CANONICAL_EYES:
        assert crop[round(cy), round(cx)] < 128  # the dot lands on the canonical eye


def test_collapsed_landmarks_are_refused():
    with pytest.raises(InvalidInput):
        alignment_matrix(np.zeros((5, 2)))
    with pytest.raises(InvalidInput):
        alignment_matrix(np.zeros((4, 2)))
