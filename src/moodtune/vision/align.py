"""Face alignment: turn a face with landmarks into a grey crop with the eyes where FER2013 has them.

One function for training and serving, so the crops the network learned from and the crops it
is shown are made the same way. ``training/train_emotion.py`` aligns every FER2013 and CK+
training image with :func:`warp_grey` and :func:`alignment_matrix` (plus random jitter); the
runtime aligns each YuNet face with :func:`align_face`.
"""

import math

import numpy as np

from moodtune.errors import InvalidInput

__all__ = [
    "CANONICAL_EYES",
    "CANONICAL_EYE_TO_MOUTH",
    "align_crops",
    "align_face",
    "alignment_matrix",
    "alignment_signature",
    "crop_alignments",
    "crop_landmarks",
    "to_grey",
    "warp_grey",
]

#: Where the eyes sit in a 48 x 48 crop: the subject's right eye (image left), then the left eye,
#: as (x, y) with pixel centres at whole numbers (the crop's centre is 23.5). Medians of YuNet's
#: landmarks over 2,886 FER2013 training images (detected at 4x with a border), rounded to the
#: half pixel, so an aligned photo puts the face where FER2013 has it.
CANONICAL_EYES = ((14.5, 18.5), (32.5, 18.5))
#: Median distance from the eyes' midpoint to the mouth corners' midpoint on the same images.
CANONICAL_EYE_TO_MOUTH = 18.0
_REFERENCE_SIZE = 48
#: YuNet misses a face that fills its whole image: crops are searched 4x larger with a border.
_CROP_UPSCALE, _CROP_BORDER = 4, 48


def alignment_signature() -> str:
    """The canonical geometry as text: training stores it in the model, loading compares it."""
    (rx, ry), (lx, ly) = CANONICAL_EYES
    return f"eyes {rx},{ry} {lx},{ly}; eye_to_mouth {CANONICAL_EYE_TO_MOUTH}"


def to_grey(pixels: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of (H, W, 3) uint8 RGB pixels; (H, W) grey passes through."""
    import cv2

    if pixels.ndim == 2:
        return pixels
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InvalidInput(f"expected (H, W, 3) uint8 RGB pixels, got {pixels.shape}")
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)


def alignment_matrix(landmarks: np.ndarray, *, size: int = 48) -> np.ndarray:
    """The 2 x 3 similarity (rotation, scale, shift) taking a face to its canonical crop.

    Rotation levels the eye line. Scale is the mean of two ratios, eye distance and
    eye-to-mouth distance against the canonical ones, so a turned head (eyes closer together)
    is not blown up. The eyes' midpoint lands on the canonical midpoint.

    Parameters
    ----------
    landmarks : np.ndarray [shape=(5, 2)]
        YuNet order: right eye, left eye, nose tip, right and left mouth corner, in pixels.
    size : int
        Side of the output crop; the canonical positions scale with it.

    Returns
    -------
    matrix : np.ndarray [shape=(2, 3)], float64, mapping source (x, y, 1) to crop pixels.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise InvalidInput(f"landmarks must be 5 finite (x, y) points, got shape {points.shape}")
    right_eye, left_eye = points[0], points[1]
    eye_mid, mouth_mid = (right_eye + left_eye) / 2, (points[3] + points[4]) / 2
    eye_distance = float(np.linalg.norm(left_eye - right_eye))
    eye_to_mouth = float(np.linalg.norm(mouth_mid - eye_mid))
    if eye_distance < 1e-3 or eye_to_mouth < 1e-3:
        raise InvalidInput("landmarks collapse to a point; cannot align this face")
    unit = size / _REFERENCE_SIZE
    (cx0, cy0), (cx1, cy1) = CANONICAL_EYES
    canonical_distance = (cx1 - cx0) * unit
    scale = 0.5 * (canonical_distance / eye_distance + CANONICAL_EYE_TO_MOUTH * unit / eye_to_mouth)
    angle = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
    cos, sin = scale * math.cos(-angle), scale * math.sin(-angle)
    linear = np.array([[cos, -sin], [sin, cos]])
    target = (np.array([(cx0 + cx1) / 2, (cy0 + cy1) / 2]) + 0.5) * unit - 0.5
    return np.hstack([linear, (target - linear @ eye_mid)[:, None]])


def warp_grey(grey: np.ndarray, matrix: np.ndarray, size: int = 48) -> np.ndarray:
    """Apply a 2 x 3 source-to-crop matrix to grey pixels, giving a (size, size) uint8 crop.

    Parts outside the image repeat its edge pixels. When the crop shrinks the face more than
    2x, the face's region is first reduced with area averaging (a bilinear warp alone would
    alias: a 300 px face read through 48 px samples every sixth pixel).
    """
    import cv2

    matrix = np.asarray(matrix, dtype=np.float64)
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    if scale < 0.5:
        grey, matrix = _reduce_region(grey, matrix, size, target_scale=1.0 / scale / 2)
    return cv2.warpAffine(
        grey, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _reduce_region(
    grey: np.ndarray, matrix: np.ndarray, size: int, *, target_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the source region the crop covers and shrink it ``target_scale`` times (area filter).

    Returns the shrunk pixels and the matrix that maps them to the same crop.
    """
    import cv2

    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64)
    source = corners @ inverse.T
    height, width = grey.shape[:2]
    x0 = int(np.clip(math.floor(source[:, 0].min()) - 2, 0, width - 1))
    y0 = int(np.clip(math.floor(source[:, 1].min()) - 2, 0, height - 1))
    x1 = int(np.clip(math.ceil(source[:, 0].max()) + 2, x0 + 1, width))
    y1 = int(np.clip(math.ceil(source[:, 1].max()) + 2, y0 + 1, height))
    region = grey[y0:y1, x0:x1]
    new_w = max(1, round((x1 - x0) / target_scale))
    new_h = max(1, round((y1 - y0) / target_scale))
    small = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
    fx, fy = new_w / (x1 - x0), new_h / (y1 - y0)
    # small pixel (u, v) is region pixel ((u + 0.5) / fx - 0.5, (v + 0.5) / fy - 0.5)
    to_region = np.array(
        [[1 / fx, 0, x0 + 0.5 / fx - 0.5], [0, 1 / fy, y0 + 0.5 / fy - 0.5], [0, 0, 1]]
    )
    return small, matrix @ to_region


def align_face(pixels: np.ndarray, landmarks: np.ndarray, *, size: int = 48) -> np.ndarray:
    """A (size, size) uint8 grey crop of the face, eyes at :data:`CANONICAL_EYES`."""
    return warp_grey(to_grey(pixels), alignment_matrix(landmarks, size=size), size)


def crop_landmarks(crops: np.ndarray, *, min_score: float = 0.6) -> np.ndarray:
    """YuNet's 5 landmarks on each (h, w) grey face crop of a dataset (FER2013, CK+), in crop
    pixels; NaN where no face scores ``min_score``. About 7 ms a crop on one core."""
    import cv2
    import yuface

    out = np.full((len(crops), 5, 2), np.nan, np.float32)
    up, border = _CROP_UPSCALE, _CROP_BORDER
    for i, crop in enumerate(crops):
        big = cv2.resize(crop, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, border, border, border, border, cv2.BORDER_REPLICATE)
        rows = np.asarray(yuface.c_detect(cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)), np.float32)
        rows = rows.reshape(-1, 16)
        if len(rows) and rows[:, 0].max() / 100 >= min_score:
            best = rows[np.argmax(rows[:, 0])]
            out[i] = (best[5:15].reshape(5, 2) - border + 0.5) / up - 0.5
    return out


def crop_alignments(landmarks: np.ndarray, size: int = _REFERENCE_SIZE) -> np.ndarray:
    """(n, 2, 3) alignment per crop; identity where no (usable) landmarks were found, since a
    dataset crop is roughly aligned already."""
    out = np.tile(np.eye(2, 3), (len(landmarks), 1, 1))
    for i, points in enumerate(landmarks):
        if np.isfinite(points).all():
            try:
                out[i] = alignment_matrix(points, size=size)
            except InvalidInput:
                pass
    return out


def align_crops(crops: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Dataset crops through the runtime alignment, no jitter: what the model is scored on."""
    matrices = crop_alignments(landmarks, size=crops.shape[1])
    return np.stack([warp_grey(c, m, crops.shape[1]) for c, m in zip(crops, matrices, strict=True)])
