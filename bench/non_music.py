"""The non-music detector on real music and on real and generated non-music, in one run.

    .venv/bin/python bench/non_music.py [--data ../shared/data]

Music: every clip of ../shared/data (4Q emotion clips, game soundtracks, GTZAN) and the 14 full
tracks, analysed through the product path (``audio.analysis.analyse_file``): the share flagged
is the false-flag rate (target: at most 1 %). Non-music: speech from espeak-ng (Debian) in 8
languages at 2 speeds, alone and over pink noise at 20 dB SNR; white, pink and brown noise;
synthetic rain; sines, a binaural pair, a sweep, an amplitude-modulated tone; silence and
near-silence; a 3 s music excerpt (too short). Prints one JSON object and writes
bench/results/non_music.json.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))

import audio_data  # noqa: E402

from moodtune.audio.analysis import analyse_file  # noqa: E402
from moodtune.audio.decode import ANALYSIS_RATE  # noqa: E402
from moodtune.audio.embed import AudioModel  # noqa: E402

RESULTS = REPO / "bench" / "results" / "non_music.json"
SEED = 20261202
VOICES = ("en", "en-us", "de", "fr", "es", "ru", "it", "pt")
TEXT = (
    "Welcome back to the show. In this episode we talk about how to grow tomatoes on a small "
    "balcony, which soil to use, and how often to water them in the summer. It was a bright "
    "cold day in April, and the clocks were striking thirteen. The quick brown fox jumps over "
    "the lazy dog, and then we will read the news of the day, the weather and the traffic."
)


def pink(rng: np.random.Generator, n: int) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    freqs = np.fft.rfftfreq(n, 1 / ANALYSIS_RATE)
    spectrum[1:] /= np.sqrt(freqs[1:])
    y = np.fft.irfft(spectrum, n)
    return np.asarray(0.2 * y / np.abs(y).max())


def generated(rng: np.random.Generator, seconds: float = 40.0) -> dict[str, np.ndarray]:
    n = int(seconds * ANALYSIS_RATE)
    t = np.arange(n) / ANALYSIS_RATE
    brown = np.cumsum(rng.normal(0, 1, n))
    brown -= np.convolve(brown, np.ones(2205) / 2205, "same")
    rain = 0.5 * pink(rng, n)
    for start in rng.integers(0, n - 200, 4000):
        rain[start : start + 200] += (
            rng.normal(0, 0.3) * np.exp(-np.arange(200) / 30) * rng.normal(0, 1, 200)
        )
    return {
        "noise/white": rng.normal(0, 0.1, n),
        "noise/pink": pink(rng, n),
        "noise/brown": 0.3 * brown / np.abs(brown).max(),
        "noise/rain": rain,
        "tone/sine_440": 0.5 * np.sin(2 * np.pi * 440 * t),
        "tone/sine_100": 0.5 * np.sin(2 * np.pi * 100 * t),
        "tone/sine_5k": 0.3 * np.sin(2 * np.pi * 5000 * t),
        "tone/binaural_200_210": 0.3 * (np.sin(2 * np.pi * 200 * t) + np.sin(2 * np.pi * 210 * t)),
        "tone/sweep": 0.5 * np.sin(2 * np.pi * (100 * t + 4900 / (2 * seconds) * t**2)),
        "tone/am_440": 0.5 * np.sin(2 * np.pi * 440 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)),
        "silence/digital": np.zeros(n),
        "silence/dither": rng.normal(0, 1e-4, n),
    }  # fmt: skip


def speech(into: Path, rng: np.random.Generator) -> dict[str, Path]:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is needed for the speech cases: apt-get install espeak-ng")
    files = {}
    for voice in VOICES:
        for speed in (140, 180):
            path = into / f"speech_{voice}_{speed}.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), TEXT], check=True
            )
            files[f"speech/{voice}_{speed}"] = path
            y, rate = sf.read(path)
            noise = pink(rng, len(y))
            noisy = y + noise * (np.std(y) / np.std(noise)) * 10 ** (-20 / 20)  # 20 dB SNR
            noisy_path = into / f"speech_{voice}_{speed}_noisy.wav"
            sf.write(noisy_path, noisy / max(1.0, np.abs(noisy).max()), rate)
            files[f"speech_in_noise/{voice}_{speed}"] = noisy_path
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "audio_data")
    args = parser.parse_args()
    started = time.perf_counter()
    model = AudioModel.from_path()
    clips = audio_data.unpacked(args.data, args.work, SEED)
    music_files = [args.work / "audio" / c.key for c in clips] + sorted(
        (REPO / "demo" / "music").glob("*.ogg")
    )
    music = [(str(p.relative_to(REPO) if p.is_relative_to(REPO) else p), analyse_file(p, model))
             for p in music_files]  # fmt: skip
    flagged_music = [
        (name, a.music.reason, a.music.measures) for name, a in music if a.music.flagged
    ]

    rng = np.random.default_rng(SEED)
    cases: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = speech(Path(tmp), rng)
        for name, y in generated(rng).items():
            path = Path(tmp) / f"{name.replace('/', '_')}.wav"
            sf.write(path, y.astype(np.float32), ANALYSIS_RATE)
            paths[name] = path
        short = Path(tmp) / "short.wav"
        y, rate = sf.read(music_files[0])
        sf.write(short, y[: 3 * rate], rate)
        paths["short/music_3s"] = short
        for name, path in paths.items():
            check = analyse_file(path, model).music
            cases[name] = {"flagged": check.flagged, "reason": check.reason,
                           "likelihood": check.likelihood}  # fmt: skip
    by_kind: dict[str, list[bool]] = {}
    for name, case in cases.items():
        by_kind.setdefault(name.split("/")[0], []).append(bool(case["flagged"]))  # type: ignore[index]
    likelihoods = np.array([a.music.likelihood for _, a in music])
    doc = {
        "benchmark": "non_music",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "music": {
            "files": len(music),
            "flagged": len(flagged_music),
            "false_flag_rate": round(len(flagged_music) / len(music), 4),
            "target_max_rate": 0.01,
            "flagged_files": flagged_music,
            "likelihood_p1": round(float(np.percentile(likelihoods, 1)), 4),
            "likelihood_median": round(float(np.median(likelihoods)), 4),
        },
        "non_music": {
            "files": len(cases),
            "detected": sum(bool(c["flagged"]) for c in cases.values()),  # type: ignore[index]
            "detection_rate_by_kind": {k: round(float(np.mean(v)), 3) for k, v in by_kind.items()},
            "reasons": dict(Counter(str(c["reason"]) for c in cases.values())),  # type: ignore[index]
            "cases": cases,
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(
        json.dumps(
            {k: v for k, v in doc.items() if k != "non_music"}
            | {"non_music": {k: v for k, v in doc["non_music"].items() if k != "cases"}},
            indent=2,
        )
    )  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
