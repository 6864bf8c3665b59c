"""Face detection behind one protocol: YuNet (``yuface``, default) and OpenCV Haar (fallback).

Both take upright RGB pixels of any size and return faces in those pixels' coordinates.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from moodtune.errors import InvalidInput

__all__ = [
    "DETECTORS",
    "FACE_GEOMETRY",
    "MIN_FACE_SCORE",
    "MIN_FACE_SIZE",
    "Face",
    "FaceDetector",
    "HaarDetector",
    "YuNetDetector",
    "landmark_geometry",
    "make_detector",
    "plausible_landmarks",
]

#: YuNet score a detection needs to count as a face: the first multiple of 0.05 above every
#: detection on photos without human faces (wallpapers, artwork, animals), chosen by
#: ``bench/face_quality.py`` (highest there: 0.75, a dog). It costs faces that are small, turned
#: or blurred (3 % of FER2013's 48 px faces scored 0.6-0.8); posed photos score 0.92 and up.
MIN_FACE_SCORE = 0.8
#: Shorter box side, in pixels of the analysed photo, below which a face is too small to read.
MIN_FACE_SIZE = 24
#: Box side (pixels of the coarse pass) from which the coarse pass finds 96 % of real faces at
#: MIN_FACE_SCORE (faces_tw_dev scaled down); the fine pass only adds faces smaller than this.
COARSE_RELIABLE_SIZE = 24
#: Landmark shape a human face stays within, in eye distances (see :func:`landmark_geometry`):
#: set by hand around the 0.5-99.5 % range of 1,471 FER2013 faces (nose_across -0.11..0.98,
#: nose_down 0.43..1.13, mouth_down 0.79..2.16, mouth_width 0.63..0.93), widened; strongly
#: turned faces beyond it (the 99.9 % range reaches mouth_down 4.3) are dropped.
FACE_GEOMETRY: dict[str, tuple[float, float]] = {
    "nose_across": (-0.6, 1.6),
    "nose_down": (0.15, 2.0),
    "mouth_down": (0.45, 3.2),
    "mouth_width": (0.35, 1.25),
}


@dataclass(frozen=True)
class Face:
    """One face: box ``(x, y, w, h)`` in pixels, score in 0..1, 5 landmarks or None.

    Landmarks (YuNet only), in order: right eye, left eye, nose tip, right and left mouth
    corners (the subject's right/left), as (x, y) pixels.
    """

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray | None = None

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    def rescaled(self, factor: float, *, width: int, height: int) -> "Face":
        """This face in pixels ``factor`` times larger, its box clipped to width x height."""
        x, y, w, h = (v * factor for v in self.box)
        landmarks = None if self.landmarks is None else self.landmarks * np.float32(factor)
        return Face(box=_clip_box(x, y, w, h, width, height), score=self.score, landmarks=landmarks)


def landmark_geometry(landmarks: np.ndarray) -> dict[str, float]:
    """Where nose and mouth sit relative to the eyes, in eye distances, along the eye line.

    ``nose_across`` is 0 under the right eye and 1 under the left; ``*_down`` are distances
    below the eye line; ``mouth_width`` is corner to corner. Rotation and scale drop out.
    """
    right_eye, left_eye, nose, mouth_right, mouth_left = np.asarray(landmarks, np.float64)
    across = left_eye - right_eye
    eye_distance = float(np.hypot(*across))
    if eye_distance == 0.0:
        return dict.fromkeys(FACE_GEOMETRY, float("nan"))
    unit = across / eye_distance
    down = np.array([-unit[1], unit[0]])
    eyes, mouth = (right_eye + left_eye) / 2, (mouth_right + mouth_left) / 2
    return {
        "nose_across": float((nose - right_eye) @ unit) / eye_distance,
        "nose_down": float((nose - eyes) @ down) / eye_distance,
        "mouth_down": float((mouth - eyes) @ down) / eye_distance,
        "mouth_width": float(np.hypot(*(mouth_left - mouth_right))) / eye_distance,
    }


def plausible_landmarks(landmarks: np.ndarray) -> bool:
    """True when the landmarks have a human face's layout (:data:`FACE_GEOMETRY`)."""
    geometry = landmark_geometry(landmarks)
    return all(low <= geometry[name] <= high for name, (low, high) in FACE_GEOMETRY.items())


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in ``image`` (H, W, 3) uint8 RGB, largest first."""
        ...


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInput(
            f"expected (H, W, 3) uint8 RGB pixels, got shape={image.shape} dtype={image.dtype}"
        )


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most ``max_side``; returns pixels and the factor used."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return image, 1.0
    from PIL import Image

    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(image)
    factor = int(1 / scale)
    if factor >= 2:  # whole-number box reduction first: about 5x cheaper than a filtered resize
        resized = resized.reduce(factor)
    if resized.size != size:
        resized = resized.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(resized), scale


def _clip_box(
    x: float, y: float, w: float, h: float, width: int, height: int
) -> tuple[int, int, int, int]:
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def _finish(faces: list[Face], min_size: int) -> list[Face]:
    kept = [f for f in faces if min(f.box[2], f.box[3]) >= min_size]
    return sorted(kept, key=lambda f: (-f.area, f.box))


class YuNetDetector:
    """libfacedetection's YuNet CNN via ``yuface`` (BSD; weights compiled into the wheel).

    Detection runs coarse to fine: first with the longer side at ``coarse_side`` (YuNet's cost
    grows with pixels: 12 ms at 320 px against 50 ms at 640 px on one core), and at ``max_side``
    only when the coarse pass finds nothing, keeping only faces too small for the coarse pass
    (:data:`COARSE_RELIABLE_SIZE`). Faces smaller than about a thirteenth of the photo's longer
    side can therefore be missed when a larger face is present.

    A detection counts as a face only when it scores ``min_confidence``, is at least
    ``min_size`` pixels and its landmarks have a face's layout (:func:`plausible_landmarks`):
    together these keep textures, artwork and animals' faces out (``bench/face_quality.py``).

    Parameters
    ----------
    min_confidence : float
        Faces scoring below this (0..1) are dropped.
    min_size : int
        Faces whose shorter box side is below this many pixels (original image) are dropped.
    check_geometry : bool
        Drop detections whose landmarks are not laid out like a face's.
    max_side, coarse_side : int
        Longer side of the fine and coarse passes; YuNet warns above 960 px.
    """

    def __init__(
        self,
        *,
        min_confidence: float = MIN_FACE_SCORE,
        min_size: int = MIN_FACE_SIZE,
        max_side: int = 640,
        coarse_side: int = 320,
        check_geometry: bool = True,
    ) -> None:
        self.min_confidence = min_confidence
        self.min_size = min_size
        self.check_geometry = check_geometry
        self.max_side = max_side
        self.coarse_side = coarse_side

    def detect(self, image: np.ndarray) -> list[Face]:
        _check_image(image)
        faces = self._detect_at(image, self.coarse_side)
        longer = max(image.shape[:2])
        if not faces and longer > self.coarse_side:
            # The fine pass is for faces too small for the coarse one; a larger face that the
            # coarse pass scored below min_confidence is not let in on a second try.
            too_small = COARSE_RELIABLE_SIZE * longer / self.coarse_side
            faces = [f for f in self._detect_at(image, self.max_side) if min(f.box[2:]) < too_small]
        return faces

    def _detect_at(self, image: np.ndarray, side: int) -> list[Face]:
        import cv2
        import yuface

        small, scale = _downscale(image, side)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)  # a strided numpy flip costs 10x more
        rows = np.asarray(yuface.c_detect(bgr), dtype=np.float32).reshape(-1, 16)
        height, width = image.shape[:2]
        faces = []
        for row in rows:
            score = float(row[0]) / 100.0
            if score < self.min_confidence:
                continue
            x, y, w, h = (row[1:5] / scale).tolist()
            landmarks = (row[5:15] / scale).reshape(5, 2).astype(np.float32)
            if self.check_geometry and not plausible_landmarks(landmarks):
                continue
            faces.append(
                Face(box=_clip_box(x, y, w, h, width, height), score=score, landmarks=landmarks)
            )
        return _finish(faces, self.min_size)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: no landmarks, misses profiles; the fallback.

    ``score`` is the cascade's level weight squashed to 0..1, comparable only between Haar faces.
    """

    def __init__(
        self, *, min_size: int = MIN_FACE_SIZE, max_side: int = 960, min_neighbors: int = 5
    ) -> None:
        self.min_size = min_size
        self.max_side = max_side
        self.min_neighbors = min_neighbors
        self._cascade: Any = None

    def detect(self, image: np.ndarray) -> list[Face]:
        import cv2

        _check_image(image)
        if self._cascade is None:
            path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
            self._cascade = cv2.CascadeClassifier(path)
        small, scale = _downscale(image, self.max_side)
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        side = max(1, round(self.min_size * scale))
        boxes, _levels, weights = self._cascade.detectMultiScale3(
            grey,
            scaleFactor=1.1,
            minNeighbors=self.min_neighbors,
            minSize=(side, side),
            outputRejectLevels=True,
        )
        height, width = image.shape[:2]
        faces = []
        for box, weight in zip(boxes, np.ravel(weights), strict=True):
            x, y, w, h = (float(v) / scale for v in box)
            score = float(1.0 / (1.0 + np.exp(-float(weight) / 2.0)))
            faces.append(Face(box=_clip_box(x, y, w, h, width, height), score=score))
        return _finish(faces, self.min_size)


#: Registry of detectors by name (``MOODTUNE_FACE_DETECTOR``); the first is the default.
DETECTORS: dict[str, Callable[..., FaceDetector]] = {"yunet": YuNetDetector, "haar": HaarDetector}


def make_detector(name: str = "yunet", **options: Any) -> FaceDetector:
    if name not in DETECTORS:
        raise InvalidInput(f"unknown face detector {name!r}", known=list(DETECTORS))
    return DETECTORS[name](**options)
