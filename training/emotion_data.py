"""Data for the emotion CNN: FER2013 + CK+ crops, their YuNet landmarks, and the augmentations
that make FER2013 look like what real photos become after moodtune's pipeline.

Every training image is aligned with the runtime's own functions (``moodtune.vision.align``),
from landmarks that YuNet finds on the image upscaled 4x with a border; images where YuNet
finds nothing keep their own framing (FER2013 crops are roughly aligned already).
"""

import csv
import hashlib
import io
import math
import tarfile
from pathlib import Path

import cv2
import numpy as np

from moodtune.errors import InvalidInput
from moodtune.vision.align import alignment_matrix, crop_landmarks, warp_grey

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def labelled_members(tar_path: Path, folder: str) -> list[tuple[dict[str, str], bytes]]:
    """Each row of ``<folder>/labels.csv`` in a data tar with the bytes of the file it names,
    read in memory (the face sets are research-use only and never copied out)."""
    with tarfile.open(tar_path) as tar:
        labels = tar.extractfile(f"{folder}/labels.csv")
        assert labels is not None
        rows = list(csv.DictReader(io.TextIOWrapper(labels, encoding="utf-8")))
        return [(row, tar.extractfile(row["path"]).read()) for row in rows]  # type: ignore[union-attr]


def load_ckplus(tar_path: Path) -> dict[str, np.ndarray]:
    """CK+ crops (n, 48, 48) uint8 with FER2013 label indices and subject ids."""
    members = labelled_members(tar_path, "faces_ckplus")
    rows = [row for row, _ in members]
    images = [
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) for _, data in members
    ]
    return {
        "images": np.stack(images),
        "labels": np.array([CLASSES.index(r["label"]) for r in rows], np.int64),
        "subjects": np.array([r["subject_id"] for r in rows]),
    }


def cached_landmarks(images: np.ndarray, cache: Path) -> np.ndarray:
    """``crop_landmarks``, stored beside the run keyed by the pixels' hash (4 min to make)."""
    key = hashlib.sha256(images.tobytes()).hexdigest()[:16]
    path = cache.with_name(f"{cache.stem}-{key}.npy")
    if path.exists():
        return np.load(path)
    landmarks = crop_landmarks(images)
    np.save(path, landmarks)
    return landmarks


class DomainAugment:
    """Random geometry and photometry per image, applied in numpy/OpenCV (microseconds each).

    Geometry: landmark error (each point moved by ``landmark_noise`` x eye distance, then the
    runtime alignment recomputed), rotation, scale, shift, mirror. Photometry: gamma,
    contrast, brightness, a lighting gradient, blur, downscale-upscale, JPEG quality, sensor
    noise and a random occluding patch.
    """

    def __init__(self, *, landmark_noise: float, max_rotation_deg: float, max_scale: float,
                 max_shift: float, p_photo: float, p_occlusion: float) -> None:  # fmt: skip
        self.landmark_noise = landmark_noise
        self.max_rotation = math.radians(max_rotation_deg)
        self.max_scale = max_scale
        self.max_shift = max_shift
        self.p_photo = p_photo
        self.p_occlusion = p_occlusion

    def __call__(
        self, image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        matrix = self._matrix(landmarks, rng)
        out = warp_grey(image, matrix, image.shape[0])
        if rng.random() < 0.5:
            out = out[:, ::-1]
        return self._photometric(np.ascontiguousarray(out), rng)

    def _matrix(self, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        base = np.eye(2, 3)
        if np.isfinite(landmarks).all():
            eye_distance = float(np.linalg.norm(landmarks[1] - landmarks[0]))
            noisy = landmarks + rng.normal(0, self.landmark_noise * eye_distance, landmarks.shape)
            try:
                base = alignment_matrix(noisy)
            except InvalidInput:
                base = alignment_matrix(landmarks)
        angle = rng.uniform(-self.max_rotation, self.max_rotation)
        scale = 1 + rng.uniform(-self.max_scale, self.max_scale)
        shift = rng.uniform(-self.max_shift, self.max_shift, 2)
        c = 23.5
        cos, sin = scale * math.cos(angle), scale * math.sin(angle)
        jitter = np.array([[cos, -sin, c - cos * c + sin * c + shift[0]],
                           [sin, cos, c - sin * c - cos * c + shift[1]], [0, 0, 1]])  # fmt: skip
        return (jitter @ np.vstack([base, [0, 0, 1]]))[:2]

    def _photometric(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = image.astype(np.float32) / 255.0
        if rng.random() < self.p_photo:
            x = x ** math.exp(rng.uniform(-0.5, 0.5))
        if rng.random() < self.p_photo:
            x = (x - 0.5) * rng.uniform(0.6, 1.4) + 0.5 + rng.uniform(-0.15, 0.15)
        if rng.random() < self.p_photo * 0.5:  # light from one side
            angle = rng.uniform(0, 2 * math.pi)
            yy, xx = np.mgrid[-1 : 1 : x.shape[0] * 1j, -1 : 1 : x.shape[1] * 1j]
            x = x * (1 + rng.uniform(0.1, 0.4) * (math.cos(angle) * xx + math.sin(angle) * yy))
        x = np.clip(x * 255, 0, 255).astype(np.uint8)
        if rng.random() < self.p_photo * 0.5:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.2))
        if rng.random() < self.p_photo * 0.3:
            side = int(rng.integers(16, 36))
            small = cv2.resize(x, (side, side), interpolation=cv2.INTER_AREA)
            x = cv2.resize(small, x.shape[::-1], interpolation=cv2.INTER_LINEAR)
        if rng.random() < self.p_photo * 0.5:
            quality = int(rng.integers(25, 95))
            ok, buf = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, quality])
            x = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        if rng.random() < self.p_photo * 0.5:
            x = np.clip(x + rng.normal(0, rng.uniform(2, 8), x.shape), 0, 255).astype(np.uint8)
        if rng.random() < self.p_occlusion:
            h, w = int(rng.integers(8, 20)), int(rng.integers(8, 20))
            top, left = int(rng.integers(0, x.shape[0] - h)), int(rng.integers(0, x.shape[1] - w))
            x = x.copy()
            x[top : top + h, left : left + w] = int(rng.integers(0, 256))
        return x
