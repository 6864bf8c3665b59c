"""Evaluation runs behind ``moodtune eval emotion``: a FER2013-style .npz split, or a folder of
labelled photos end to end. Reads files, so it sits beside the pure ``evaluate`` metrics."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from moodtune.errors import InvalidInput, NoFace
from moodtune.vision.align import align_crops, crop_landmarks
from moodtune.vision.emotion import OnnxEmotionClassifier
from moodtune.vision.evaluate import classification_report, probability_report
from moodtune.vision.pipeline import EmotionPipeline

__all__ = ["evaluate_folder", "evaluate_npz", "labelled_photos", "split_predictions"]

_PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def split_predictions(
    path: Path,
    split: str,
    classifier: OnnxEmotionClassifier | None = None,
    *,
    batch: int = 512,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(probs, labels, ferplus labels or None)`` for the 48x48 crops of one split.

    A model trained on aligned faces is shown the crops aligned the same way (YuNet landmarks,
    :func:`~moodtune.vision.align.crop_landmarks`, about 7 ms a crop), as in its training run.
    """
    data = np.load(path)
    if "split" not in data or split not in set(data["split"].tolist()):
        raise InvalidInput(f"{path.name} has no split {split!r}")
    classifier = classifier or OnnxEmotionClassifier.from_path()
    mask = data["split"] == split
    images, labels = data["images"][mask], data["labels"][mask].astype(np.int64)
    if classifier.aligned:
        images = align_crops(images, crop_landmarks(images))
    probs = np.concatenate(
        [classifier.predict_proba(images[i : i + batch]) for i in range(0, len(images), batch)]
    )
    ferplus = data["ferplus_label"][mask] if "ferplus_label" in data else None
    return probs, labels, ferplus


def evaluate_npz(path: Path, *, split: str = "test") -> dict[str, Any]:
    """Classify the 48x48 crops of ``split``; adds the seeds' 4-class views and FERPlus accuracy."""
    classifier = OnnxEmotionClassifier.from_path()
    probs, labels, ferplus = split_predictions(path, split, classifier)
    return probability_report(labels, probs, classifier.classes, ferplus=ferplus)


def labelled_photos(folder: Path, classes: tuple[str, ...]) -> list[tuple[int, Path]]:
    """(class index, photo) for every photo under ``folder/<label>/``."""
    photos = []
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if label_dir.name not in classes:
            raise InvalidInput(
                f"folder {label_dir.name!r} is not an emotion label", known=list(classes)
            )
        for photo in sorted(p for p in label_dir.iterdir() if p.suffix.lower() in _PHOTO_SUFFIXES):
            photos.append((classes.index(label_dir.name), photo))
    if not photos:
        raise InvalidInput(f"no photos found under {folder}/<label>/")
    return photos


def evaluate_folder(
    folder: Path,
    *,
    detector: str = "yunet",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Photos in ``folder/<label>/`` end to end; the largest face's dominant emotion counts.

    Besides the usual report: photos without a face (per class too), and how many readings the
    pipeline marked uncertain with the accuracy of the others. ``progress(done, total)`` is
    called after each photo.
    """
    pipeline = EmotionPipeline.default(detector=detector)
    classes = tuple(pipeline.classifier.classes)
    photos = labelled_photos(folder, classes)
    y_true, probs, uncertain = [], [], []
    no_face = dict.fromkeys(classes, 0)
    for done, (truth, photo) in enumerate(photos, start=1):
        try:
            result = pipeline.analyse(photo.read_bytes())
        except NoFace:
            no_face[classes[truth]] += 1
        else:
            y_true.append(truth)
            probs.append(result.faces[0].probs)
            uncertain.append(bool(result.faces[0].uncertain))
        if progress is not None:
            progress(done, len(photos))
    truth_array = np.array(y_true, np.int64)
    if probs:
        report = probability_report(truth_array, np.stack(probs), classes)
    else:
        report = classification_report(truth_array, truth_array, classes)
    missed = sum(no_face.values())
    correct = np.array([int(np.argmax(p)) == t for p, t in zip(probs, y_true, strict=True)], bool)
    sure = ~np.array(uncertain, bool)
    report["detected"] = len(y_true)
    report["no_face"] = missed
    report["no_face_per_class"] = no_face
    report["accuracy_counting_no_face_as_wrong"] = round(correct.sum() / (len(y_true) + missed), 4)
    report["uncertain"] = int((~sure).sum())
    report["accuracy_when_certain"] = round(float(correct[sure].mean()), 4) if sure.any() else None
    return report
