"""Big photos cost little: time and extra memory from upload bytes to an answer, one core.

    .venv/bin/python bench/big_images.py [--runs 3]

Each photo is just under 40 megapixels (the most MOODTUNE_MAX_IMAGE_PIXELS allows): a 7300x5470
frame and a 16383x2400 panorama (WebP's widest), in JPEG, PNG, WebP and HEIC, each with the
public-domain astronaut fixture's face pasted on a smooth gradient so that the file stays under
the 10 MB upload limit. Every case runs in a fresh process; after the models are loaded its
peak RSS is reset (/proc/self/clear_refs), so VmHWM minus VmRSS before the first upload is the
memory that one upload costs (Linux only). The answer is whatever the
pipeline says (emotions, no_face, too_large); what is measured is what it costs to say it.
WebP and HEIC are also measured at their lower pixel caps (16 and 24 MP), where they still
decode. Prints one JSON object and writes bench/results/big_images.json. Targets: <= 1 s median and
<= 300 MB extra per upload.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/onnxruntime/cv2 load their thread pools

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "big_images.json"
SHAPES = {"frame_7300x5470": (7300, 5470), "panorama_16383x2400": (16383, 2400)}
FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heic": "HEIF"}
#: The largest photos the formats decoded whole may be (WHOLE_DECODE_PIXELS), measured too.
AT_CAP = {"webp": (4000, 4000), "heic": (6000, 4000)}
TARGET_S, TARGET_MB = 1.0, 300.0


def make_photo(shape: tuple[int, int], fmt: str) -> bytes:
    width, height = shape
    ramp = np.linspace(60, 200, width, dtype=np.float32)[None, :, None]
    shade = np.linspace(0.8, 1.0, height, dtype=np.float32)[:, None, None]
    canvas = Image.fromarray((ramp * shade * np.ones((1, 1, 3), np.float32)).astype(np.uint8))
    face = Image.open(REPO / "tests" / "fixtures" / "astronaut.jpg").convert("RGB")
    side = min(height, width) // 2
    canvas.paste(face.resize((side, side)), (width // 3, height // 4))
    buffer = io.BytesIO()
    options = {"quality": 85} if fmt in ("JPEG", "WEBP", "HEIF") else {"compress_level": 6}
    canvas.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def status_mb(field: str) -> float:
    """VmRSS or VmHWM (peak) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def measure_one(path: Path, runs: int) -> dict[str, object]:
    """Runs in its own process: decode + detect + classify ``runs`` times."""
    from moodtune.errors import MoodtuneError
    from moodtune.vision.pipeline import EmotionPipeline

    pipeline = EmotionPipeline.default()
    data = path.read_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before = status_mb("VmRSS")
    seconds, answer = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        try:
            result = pipeline.analyse(data)
            answer = f"{len(result.faces)} face(s)"
        except MoodtuneError as exc:
            answer = exc.code
        seconds.append(time.perf_counter() - started)
    peak = status_mb("VmHWM")
    return {
        "answer": answer,
        "median_s": round(statistics.median(seconds), 3),
        "extra_mb": round(peak - before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.runs)))
        return
    cases: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plan = [(f"{n}.{ext}", shape, fmt) for n, shape in SHAPES.items()
                for ext, fmt in FORMATS.items()]  # fmt: skip
        plan += [(f"at_cap_{w}x{h}.{ext}", (w, h), FORMATS[ext]) for ext, (w, h) in AT_CAP.items()]
        for name, shape, fmt in plan:
            path = Path(tmp) / name
            if fmt == "HEIF":
                import pillow_heif

                pillow_heif.register_heif_opener()
            path.write_bytes(make_photo(shape, fmt))
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(path), "--runs", str(args.runs)],
                capture_output=True,
                text=True,
                check=True,
            )
            case = json.loads(child.stdout.strip().splitlines()[-1])
            case["megabytes"] = round(path.stat().st_size / 2**20, 2)
            case["meets_targets"] = case["median_s"] <= TARGET_S and case["extra_mb"] <= TARGET_MB
            cases[name] = case
            print(name, case, file=sys.stderr)
    results = {
        "benchmark": "big_images",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "threads": 1,
        "runs": args.runs,
        "targets": {"median_s": TARGET_S, "extra_mb": TARGET_MB},
        "cases": cases,
        "targets_met": all(c["meets_targets"] for c in cases.values()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
