"""Evaluation runs behind ``moodtune eval emotion``: a FER2013-style .npz split, or a folder of
labelled photos end to end. Reads files, so it sits beside the pure ``evaluate`` metrics."""

from pathlib import Path
from typing import Any

import numpy as np

from moodtune.errors import InvalidInput, NoFace
from moodtune.vision.emotion import OnnxEmotionClassifier
from moodtune.vision.evaluate import classification_report, probability_report
from moodtune.vision.pipeline import EmotionPipeline

__all__ = ["evaluate_folder", "evaluate_npz"]

_PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def evaluate_npz(path: Path, *, split: str = "test", batch: int = 512) -> dict[str, Any]:
    """Classify the 48x48 crops of ``split``; adds the seeds' 4-class views and FERPlus accuracy."""
    data = np.load(path)
    if "split" not in data or split not in set(data["split"].tolist()):
        raise InvalidInput(f"{path.name} has no split {split!r}")
    classifier = OnnxEmotionClassifier.from_path()
    mask = data["split"] == split
    images, labels = data["images"][mask], data["labels"][mask].astype(np.int64)
    probs = np.concatenate(
        [classifier.predict_proba(images[i : i + batch]) for i in range(0, len(images), batch)]
    )
    ferplus = data["ferplus_label"][mask] if "ferplus_label" in data else None
    return probability_report(labels, probs, classifier.classes, ferplus=ferplus)


def evaluate_folder(folder: Path, *, detector: str = "yunet") -> dict[str, Any]:
    """Photos in ``folder/<label>/`` end to end; the largest face's dominant emotion counts."""
    pipeline = EmotionPipeline.default(detector=detector)
    classes = tuple(pipeline.classifier.classes)
    y_true, probs, no_face = [], [], 0
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if label_dir.name not in classes:
            raise InvalidInput(
                f"folder {label_dir.name!r} is not an emotion label", known=list(classes)
            )
        for photo in sorted(p for p in label_dir.iterdir() if p.suffix.lower() in _PHOTO_SUFFIXES):
            try:
                result = pipeline.analyse(photo.read_bytes())
            except NoFace:
                no_face += 1
                continue
            face = result.faces[0]
            y_true.append(classes.index(label_dir.name))
            probs.append(face.probs)
    if not y_true and not no_face:
        raise InvalidInput(f"no photos found under {folder}/<label>/")
    if probs:
        report = probability_report(np.array(y_true, np.int64), np.stack(probs), classes)
    else:
        report = classification_report(np.zeros(0, np.int64), np.zeros(0, np.int64), classes)
    report["detected"] = len(y_true)
    report["no_face"] = no_face
    correct = sum(int(np.argmax(p)) == t for p, t in zip(probs, y_true, strict=True))
    report["accuracy_counting_no_face_as_wrong"] = round(correct / (len(y_true) + no_face), 4)
    return report
