"""Ship a trained emotion model: copy its ONNX into the package, calibrate the face crop on real
whole-head photos, and write the sidecar (checksum + crop) that the runtime verifies at load.

    .venv/bin/python training/package_emotion.py --run=runs/emotion \
        --faces=../shared/data/faces_tw_dev.tar

Uncertainty: ``uncertain_margin`` is chosen on FER2013 validation faces
(:func:`choose_uncertain_margin`). Crop calibration (used only for faces without landmarks,
the Haar fallback; YuNet faces are aligned): FER2013 crops sit tight on the face, boxes do not.
For each
(scale, shift_y) on a grid, the YuNet box of every photo is cropped and classified; the pair
with the best accuracy on these dev photos (posed labels) is kept. The photos are research-use
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

from moodtune.vision.align import align_crops, crop_landmarks
from moodtune.vision.emotion import DEFAULT_MODEL, CropSpec, OnnxEmotionClassifier, crop_face
from moodtune.vision.faces import make_detector
from moodtune.vision.images import decode_image

SCALES = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
SHIFTS = (-0.1, -0.05, 0.0, 0.05, 0.1)


def load_photos(tar_path: Path) -> list[tuple[str, np.ndarray]]:
    return [
        (row["label"], decode_image(data))
        for row, data in labelled_members(tar_path, "faces_tw_dev")
    ]


def calibrate(
    classifier: OnnxEmotionClassifier, photos: list[tuple[str, np.ndarray]]
) -> tuple[CropSpec, list[dict[str, float]]]:
    detector = make_detector("yunet")
    boxes = [detector.detect(pixels) for _, pixels in photos]
    usable = [
        (label, pixels, faces[0].box)
        for (label, pixels), faces in zip(photos, boxes, strict=True)
        if faces
    ]
    truth = np.array([classifier.classes.index(label) for label, _, _ in usable])
    grid = []
    for scale, shift in itertools.product(SCALES, SHIFTS):
        spec = CropSpec(scale=scale, shift_y=shift)
        crops = np.stack(
            [crop_face(p, box, spec=spec, size=classifier.image_size) for _, p, box in usable]
        )
        accuracy = float((classifier.predict_proba(crops).argmax(1) == truth).mean())
        grid.append({"scale": scale, "shift_y": shift, "accuracy": round(accuracy, 4)})
    best = max(grid, key=lambda g: (g["accuracy"], -abs(g["scale"] - 1.0), -abs(g["shift_y"])))
    return CropSpec(scale=best["scale"], shift_y=best["shift_y"]), grid


def choose_uncertain_margin(classifier: OnnxEmotionClassifier, npz: Path) -> float:
    """The top-1 minus top-2 margin below which the top emotion is wrong more often than
    right, on FER2013 validation faces (aligned as in training); rounded to 0.01."""
    data = np.load(npz)
    val = data["split"] == "val"
    images, labels = data["images"][val], data["labels"][val]
    if classifier.aligned:
        images = align_crops(images, crop_landmarks(images))
    probs = classifier.predict_proba(images)
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
