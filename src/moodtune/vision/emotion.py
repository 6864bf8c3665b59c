"""The emotion classifier: our FER2013 CNN run with ONNX Runtime, and the face crop it expects.

Preprocessing is read from the ONNX metadata written by ``training/train_emotion.py`` (input
size, centre crop, mean/std, temperature, alignment), so training and serving cannot drift
apart. A face with landmarks is aligned (``vision.align``) the way every training image was; a
face without (the Haar fallback) gets a box crop whose margin and shift live in the model's
sidecar JSON with its checksum.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from moodtune.checked_onnx import load_checked
from moodtune.errors import InvalidInput
from moodtune.vision.align import align_face, alignment_signature
from moodtune.vision.faces import Face

__all__ = [
    "DEFAULT_MODEL",
    "CropSpec",
    "EmotionClassifier",
    "OnnxEmotionClassifier",
    "crop_face",
    "face_crop",
]

#: The shipped model's sidecar (checksum, crop calibration); the .onnx sits beside it.
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "emotion.json"


@dataclass(frozen=True)
class CropSpec:
    """How a detector box becomes a FER2013-like crop.

    ``scale`` multiplies the box's larger side to get the square crop's side; ``shift_y`` moves
    the crop centre down by that fraction of the box height (FER2013 crops sit tight on the
    face, from brows to chin).
    """

    scale: float = 1.0
    shift_y: float = 0.0


class EmotionClassifier(Protocol):
    classes: tuple[str, ...]

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """(n, 7) calibrated probabilities for (n, size, size) uint8 grey face crops."""
        ...


def crop_face(
    pixels: np.ndarray, box: tuple[int, int, int, int], *, spec: CropSpec, size: int = 48
) -> np.ndarray:
    """Cut a square grey face crop around a detector box, resized to ``size`` x ``size``.

    Parameters
    ----------
    pixels : np.ndarray [shape=(H, W, 3)], uint8 RGB
    box : (x, y, w, h) in pixels
    spec : CropSpec
        Margin and vertical shift, calibrated per model.

    Returns
    -------
    crop : np.ndarray [shape=(size, size)], uint8
        ITU-R 601 luma of the square region; parts outside the image repeat the edge pixels.
    """
    from PIL import Image

    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise InvalidInput(f"face box must have a positive size, got {box}")
    side = max(w, h) * spec.scale
    cx, cy = x + w / 2, y + h / 2 + spec.shift_y * h
    left, top = round(cx - side / 2), round(cy - side / 2)
    side_px = max(1, round(side))
    height, width = pixels.shape[:2]
    rows = np.clip(np.arange(top, top + side_px), 0, height - 1)
    cols = np.clip(np.arange(left, left + side_px), 0, width - 1)
    region = pixels[rows][:, cols]
    grey = Image.fromarray(region).convert("L")
    return np.asarray(grey.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def face_crop(
    pixels: np.ndarray, face: Face, *, spec: CropSpec, aligned: bool, size: int = 48
) -> np.ndarray:
    """The crop a classifier expects: aligned on the landmarks when it was trained that way and
    the face has them, else the box crop."""
    if aligned and face.landmarks is not None:
        return align_face(pixels, face.landmarks, size=size)
    return crop_face(pixels, face.box, spec=spec, size=size)


class OnnxEmotionClassifier:
    """FER2013 CNN in ONNX Runtime; one session, safe to call from several threads."""

    def __init__(
        self,
        session: Any,
        metadata: dict[str, str],
        crop: CropSpec,
        *,
        uncertain_margin: float = 0.0,
    ) -> None:
        self.session = session
        self.crop = crop
        self.uncertain_margin = uncertain_margin  # top-1 minus top-2 below this: a close call
        self.classes = tuple(metadata["classes"].split(","))
        self.image_size = int(metadata["image_size"])
        self.crop_size = int(metadata["crop"])
        self.mean = float(metadata["mean"])
        self.std = float(metadata["std"])
        self.temperature = float(metadata["temperature"])
        self.flip = metadata.get("tta") == "hflip"
        self.aligned = "alignment" in metadata
        if self.aligned and metadata["alignment"] != alignment_signature():
            raise InvalidInput(
                "the emotion model was trained on another face alignment than this code makes",
                model=metadata["alignment"],
                code=alignment_signature(),
            )
        self.metadata = metadata

    @classmethod
    def from_path(
        cls, sidecar: Path = DEFAULT_MODEL, *, threads: int = 1
    ) -> "OnnxEmotionClassifier":
        """Load a model described by its sidecar JSON, refusing a file whose checksum differs."""
        model = load_checked(sidecar, what="emotion", threads=threads)
        return cls(
            model.session,
            model.metadata,
            CropSpec(**model.spec.get("crop", {})),
            uncertain_margin=float(model.spec.get("uncertain_margin", 0.0)),
        )

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities, ``softmax(mean(logits(x), logits(flip(x))) / T)``.

        Parameters
        ----------
        crops : np.ndarray [shape=(n, image_size, image_size)], uint8
            Grey face crops as made by :func:`crop_face`.

        Returns
        -------
        probs : np.ndarray [shape=(n, 7)], float32, rows sum to 1, in ``classes`` order
        """
        logits = self.logits(crops) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)

    def logits(self, crops: np.ndarray, output: str = "logits") -> np.ndarray:
        """Logits of (n, image_size, image_size) uint8 crops from the graph's ``output``,
        averaged with the mirrored crop's when the model flips, before the temperature.
        ``prior_logits`` is the trained layer that ``fit_emotion_head.py`` keeps beside the
        fitted one (already calibrated): what a student model learns from."""
        crops = np.asarray(crops)
        if crops.ndim != 3 or crops.shape[1:] != (self.image_size, self.image_size):
            raise InvalidInput(
                f"crops must be (n, {self.image_size}, {self.image_size}), got {crops.shape}"
            )
        if len(crops) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        m = (self.image_size - self.crop_size) // 2
        x = crops[:, m : m + self.crop_size, m : m + self.crop_size].astype(np.float32) / 255.0
        x = ((x - self.mean) / self.std)[:, None, :, :]
        if self.flip:
            x = np.concatenate([x, x[:, :, :, ::-1]])
        logits = self.session.run([output], {"input": np.ascontiguousarray(x)})[0]
        if self.flip:
            logits = (logits[: len(crops)] + logits[len(crops) :]) / 2
        return np.asarray(logits)
