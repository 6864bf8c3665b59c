"""Ship a trained emotion model: copy its ONNX into the package, calibrate the face crop on real
whole-head photos, and write the sidecar (checksum + crop) that the runtime verifies at load.

    .venv/bin/python training/package_emotion.py --run=runs/emotion \
        --faces=../shared/data/faces_tw_dev.tar

Uncertainty: ``uncertain_margin`` is chosen on FER2013 validation faces
(:func:`choose_uncertain_margin`). Crop calibration (used only for faces without landmarks,
the Haar fallback; YuNet faces are aligned): FER2013 crops sit tight on the face, boxes do not.
For each (scale, shift_y) on a grid, the Haar box of every photo is cropped and classified; the
pair with the best accuracy on these dev photos (posed labels) is kept
(bench/emotion_accuracy.py scores this choice leave-one-performer-out). The photos are research-use
only: they are read from ../shared and never copied.
"""

import argparse
import hashlib
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
from emotion_data import labelled_members  # training/ is on sys.path when run as a script

from moodtune.vision.emotion import DEFAULT_MODEL, CropSpec, OnnxEmotionClassifier, crop_face
from moodtune.vision.evaluation_runs import split_predictions
from moodtune.vision.faces import make_detector
from moodtune.vision.images import decode_image

SCALES = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
SHIFTS = (-0.1, -0.05, 0.0, 0.05, 0.1)


def load_photos(tar_path: Path) -> list[tuple[dict[str, str], np.ndarray]]:
    """Each faces_tw_dev row (label, performer_id, ...) with its decoded RGB photo."""
    return [(row, decode_image(data)) for row, data in labelled_members(tar_path, "faces_tw_dev")]


def crop_grid(
    classifier: OnnxEmotionClassifier,
    photos: list[tuple[dict[str, str], np.ndarray]],
    detector: str = "haar",
) -> tuple[np.ndarray, list[CropSpec], np.ndarray]:
    """Every grid crop of every photo's largest face, classified.

    Returns the true class per photo (-1 where ``detector`` finds no face), the grid, and the
    predicted class per (spec, photo) as an (n_specs, n_photos) array.
    """
    faces = make_detector(detector)
    boxes = [next(iter(faces.detect(pixels)), None) for _, pixels in photos]
    truth = np.array(
        [
            classifier.classes.index(row["label"]) if box is not None else -1
            for (row, _), box in zip(photos, boxes, strict=True)
        ]
    )
    found = [
        (pixels, box.box) for (_, pixels), box in zip(photos, boxes, strict=True) if box is not None
    ]
    specs = [CropSpec(scale=a, shift_y=b) for a, b in itertools.product(SCALES, SHIFTS)]
    predicted = np.full((len(specs), len(photos)), -1)
    for i, spec in enumerate(specs):
        crops = np.stack(
            [crop_face(p, box, spec=spec, size=classifier.image_size) for p, box in found]
        )
        predicted[i, truth >= 0] = classifier.predict_proba(crops).argmax(1)
    return truth, specs, predicted


def best_spec(specs: list[CropSpec], accuracies: np.ndarray) -> CropSpec:
    """The most accurate crop; ties go to the one nearest the plain box."""
    return max(
        zip(specs, accuracies, strict=True),
        key=lambda sa: (sa[1], -abs(sa[0].scale - 1.0), -abs(sa[0].shift_y)),
    )[0]


def calibrate(
    classifier: OnnxEmotionClassifier,
    photos: list[tuple[dict[str, str], np.ndarray]],
    detector: str = "haar",
) -> tuple[CropSpec, list[dict[str, float]]]:
    """The crop that classifies the detected faces of ``photos`` best, and the whole grid."""
    truth, specs, predicted = crop_grid(classifier, photos, detector)
    found = truth >= 0
    accuracies = (predicted[:, found] == truth[found]).mean(axis=1)
    grid = [
        {"scale": s.scale, "shift_y": s.shift_y, "accuracy": round(float(a), 4)}
        for s, a in zip(specs, accuracies, strict=True)
    ]
    return best_spec(specs, accuracies), grid


def choose_uncertain_margin(classifier: OnnxEmotionClassifier, npz: Path) -> float:
    """The top-1 minus top-2 margin below which the top emotion is wrong more often than
    right, on FER2013 validation faces (aligned as in training); rounded to 0.01."""
    probs, labels, _ = split_predictions(npz, "val", classifier)
    top2 = np.sort(probs, axis=1)[:, -2:]
    margins, right = top2[:, 1] - top2[:, 0], probs.argmax(1) == labels
    order = np.argsort(margins)
    accuracy_below = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    at_most_half = np.flatnonzero(accuracy_below[50:] <= 0.5)  # 50: skip the noisy first few
    if len(at_most_half) == 0:
        return 0.0
    return round(float(margins[order][50 + at_most_half[-1]]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run", type=Path, required=True, help="training output folder with emotion.onnx"
    )
    parser.add_argument("--faces", type=Path, default=Path("../shared/data/faces_tw_dev.tar"))
    parser.add_argument("--npz", type=Path, default=Path("../shared/data/fer2013.npz"))
    args = parser.parse_args()
    target = DEFAULT_MODEL.parent / "emotion.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.run / "emotion.onnx", target)
    sidecar = {
        "file": target.name,
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        "crop": {},
    }
    DEFAULT_MODEL.write_text(json.dumps(sidecar, indent=2) + "\n")
    spec, grid = calibrate(OnnxEmotionClassifier.from_path(DEFAULT_MODEL), load_photos(args.faces))
    sidecar["crop"] = {"scale": spec.scale, "shift_y": spec.shift_y}
    classifier = OnnxEmotionClassifier.from_path(DEFAULT_MODEL)
    sidecar["uncertain_margin"] = choose_uncertain_margin(classifier, args.npz)
    DEFAULT_MODEL.write_text(json.dumps(sidecar, indent=2) + "\n")
    (args.run / "crop_calibration.json").write_text(json.dumps(grid, indent=2) + "\n")
    print(
        json.dumps({"sidecar": sidecar, "best": max(grid, key=lambda g: g["accuracy"])}, indent=2)
    )


if __name__ == "__main__":
    main()
