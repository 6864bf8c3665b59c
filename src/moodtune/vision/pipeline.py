"""Photo bytes -> faces with calibrated emotion probabilities, all in memory.

A reading is marked uncertain, with its reasons, when the listener should confirm it rather
than get a playlist built on a guess: ``close_call`` when the top emotion beats the second by
less than the model's ``uncertain_margin`` (chosen on FER2013 validation faces so that below it
the top emotion is wrong more often than right), ``small_face`` when every face is smaller than
:data:`SMALL_FACE`.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from moodtune.errors import NoFace
from moodtune.vision.emotion import CropSpec, EmotionClassifier, OnnxEmotionClassifier, face_crop
from moodtune.vision.faces import Face, FaceDetector, make_detector
from moodtune.vision.images import decode_photo

__all__ = [
    "ANALYSIS_SIDE",
    "SMALL_FACE",
    "EmotionPipeline",
    "FaceEmotions",
    "PhotoEmotions",
    "top_margin",
]

#: Longer side photos are analysed at: YuNet's cost grows with pixels, and a face filling a
#: tenth of a 640 px frame still gives the classifier more than its 48 px.
ANALYSIS_SIDE = 640
#: Shorter box side (pixels of the analysed photo) below which the 48 px crop is upsampled, so
#: the expression's detail is guessed rather than seen.
SMALL_FACE = 48


def top_margin(probs: np.ndarray) -> float:
    """Top-1 minus top-2 probability: how clearly one emotion wins."""
    second, first = np.sort(np.asarray(probs, np.float64))[-2:]
    return float(first - second)


def uncertain_reasons(probs: np.ndarray, faces: list[Face], margin: float) -> list[str]:
    """Why a reading should be confirmed by the listener: a close call, or only small faces."""
    reasons = ["close_call"] if top_margin(probs) < margin else []
    if all(min(f.box[2], f.box[3]) < SMALL_FACE for f in faces):
        reasons.append("small_face")
    return reasons


@dataclass(frozen=True)
class FaceEmotions:
    face: Face
    probs: np.ndarray  # (7,) in the classifier's class order
    uncertain: tuple[str, ...] = ()  # reasons, see :func:`uncertain_reasons`

    def as_dict(self, classes: tuple[str, ...]) -> dict[str, Any]:
        return {
            "box": list(self.face.box),
            "score": round(self.face.score, 4),
            "emotions": {c: round(float(p), 4) for c, p in zip(classes, self.probs, strict=True)},
            "dominant": classes[int(np.argmax(self.probs))],
            "uncertain": bool(self.uncertain),
            "uncertain_reasons": list(self.uncertain),
        }


@dataclass(frozen=True)
class PhotoEmotions:
    """Every face found in one photo, largest first."""

    width: int
    height: int
    faces: list[FaceEmotions]
    classes: tuple[str, ...]
    uncertain: tuple[str, ...] = ()  # reasons for the blended mood, see :func:`uncertain_reasons`

    def as_dict(self) -> dict[str, Any]:
        """The DESIGN.md shape: ``{"faces": [{box, score, emotions, dominant, uncertain,
        uncertain_reasons}], width, height, uncertain, uncertain_reasons}``."""
        return {
            "faces": [f.as_dict(self.classes) for f in self.faces],
            "width": self.width,
            "height": self.height,
            "uncertain": bool(self.uncertain),
            "uncertain_reasons": list(self.uncertain),
        }

    def blended(self) -> dict[str, float]:
        """One probability per class for the whole photo: faces weighted by box area.

        The mood point is linear in the probabilities, so this gives the same point as
        weighting each face's point by its area (larger, usually nearer, faces count more).
        """
        areas = np.array([max(f.face.area, 1) for f in self.faces], dtype=np.float64)
        probs = (areas[:, None] * np.stack([f.probs for f in self.faces])).sum(axis=0) / areas.sum()
        return {c: float(p) for c, p in zip(self.classes, probs, strict=True)}


class EmotionPipeline:
    """Decode -> detect -> crop -> classify. Build once (models load at construction)."""

    def __init__(
        self,
        detector: FaceDetector,
        classifier: EmotionClassifier,
        *,
        max_bytes: int = 10 * 1024 * 1024,
        max_pixels: int = 40_000_000,
        crop_size: int = 48,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.crop_size = crop_size

    @classmethod
    def default(cls, *, detector: str = "yunet", **limits: int) -> "EmotionPipeline":
        classifier = OnnxEmotionClassifier.from_path()
        return cls(make_detector(detector), classifier, crop_size=classifier.image_size, **limits)

    def analyse(self, data: bytes) -> PhotoEmotions:
        """Raises TooLarge, UnsupportedMedia, BadImage for bad files and NoFace without faces.

        Works on the photo reduced to ``ANALYSIS_SIDE`` (faces there stay far above the 48 px
        the classifier sees); boxes are reported in the uploaded photo's coordinates.
        """
        photo = decode_photo(
            data, max_bytes=self.max_bytes, max_pixels=self.max_pixels, max_side=ANALYSIS_SIDE
        )
        result = self.analyse_pixels(photo.pixels)
        if photo.scale == 1.0:
            return result
        faces = [
            FaceEmotions(
                face=f.face.rescaled(photo.scale, width=photo.width, height=photo.height),
                probs=f.probs,
                uncertain=f.uncertain,
            )
            for f in result.faces
        ]
        return dataclasses.replace(result, width=photo.width, height=photo.height, faces=faces)

    def analyse_pixels(self, pixels: np.ndarray) -> PhotoEmotions:
        faces = self.detector.detect(pixels)
        if not faces:
            raise NoFace(
                "No face found in the image. Face the camera, with more light, and try again.",
                width=int(pixels.shape[1]),
                height=int(pixels.shape[0]),
            )
        spec = getattr(self.classifier, "crop", CropSpec())  # per-model calibration when it has one
        aligned = bool(getattr(self.classifier, "aligned", False))
        crops = np.stack(
            [face_crop(pixels, f, spec=spec, aligned=aligned, size=self.crop_size) for f in faces]
        )
        probs = self.classifier.predict_proba(crops)
        margin = float(getattr(self.classifier, "uncertain_margin", 0.0))
        photo = PhotoEmotions(
            width=int(pixels.shape[1]),
            height=int(pixels.shape[0]),
            faces=[
                FaceEmotions(face=f, probs=p, uncertain=tuple(uncertain_reasons(p, [f], margin)))
                for f, p in zip(faces, probs, strict=True)
            ],
            classes=tuple(self.classifier.classes),
        )
        blend = np.array(list(photo.blended().values()))
        return dataclasses.replace(photo, uncertain=tuple(uncertain_reasons(blend, faces, margin)))
