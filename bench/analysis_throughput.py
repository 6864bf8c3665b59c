"""Library analysis throughput: `moodtune library add` end to end, and where the time goes.

    .venv/bin/python bench/analysis_throughput.py [--shared ../shared/data]

Workloads: the demo library (14 full tracks, 44 min; the same recordings as the shared
music_full_tracks.tar) and, when ../shared/data is present, the 158 game/GTZAN clips of
music_clips.tar (30 s each) and the 764 4Q clips of music_emotion.tar (15 s each). Each is
imported into a fresh SQLite database with 1 and 2 worker processes, and with 2 workers on a
local Ray (``--engine ray``, Ray's start included) when Ray is installed (tags, content hash,
decode, log-mel, CNN, DSP, DB writes, everything), and the ratio of audio seconds to wall
seconds is reported ("x real time"). The profile times each stage of the analysis of the demo
library in one process. Prints one JSON object and writes bench/results/analysis_throughput.json.
"""

import argparse
import importlib.util
import json
import os
import statistics
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from moodtune.audio.analysis import MAX_WINDOWS, WINDOW_S
from moodtune.audio.decode import load_windows, probe
from moodtune.audio.embed import AudioModel
from moodtune.audio.features import analyse_windows
from moodtune.audio.mel import N_FFT, log_mel_from_power, power_spectrogram
from moodtune.audio.music import check_music
from moodtune.audio.tags import read_tags
from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
from moodtune.catalog.library import Engine, add_library
from moodtune.storage import LocalStorage

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "analysis_throughput.json"
TARGET_X_REAL_TIME = 300.0
PEER_TRACKS_PER_HOUR = 400  # AudioMuse-AI on a modern CPU, as quoted in issue 3


def unpack_audio(tar_path: Path, into: Path) -> Path:
    """The .ogg files of a shared tar, flat in one folder."""
    into.mkdir(parents=True)
    with tarfile.open(tar_path) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".ogg"):
                source = tar.extractfile(member)
                assert source is not None
                (into / Path(member.name).name).write_bytes(source.read())
    return into


def import_once(
    folder: Path, workers: int, work: Path, engine_name: Engine = "process"
) -> dict[str, object]:
    url = f"sqlite:///{work / f'bench_{folder.name}_{engine_name}_{workers}.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    started = time.perf_counter()
    report = add_library(
        folder,
        session_factory=make_session_factory(engine),
        storage=LocalStorage(work / "objects"),
        workers=workers,
        engine=engine_name,
    )
    wall = time.perf_counter() - started
    engine.dispose()
    assert not report.failed, report.failed
    return {
        "engine": engine_name,
        "workers": workers,
        "tracks": report.added,
        "audio_s": round(report.audio_seconds, 1),
        "wall_s": round(wall, 2),
        "x_real_time": round(report.audio_seconds / wall, 1),
        "tracks_per_hour": round(report.added / wall * 3600),
    }


def profile(folder: Path, model: AudioModel) -> dict[str, object]:
    """Seconds per stage over every file, one process (median of 3 passes per file)."""
    stages = {"tags": 0.0, "decode": 0.0, "mel": 0.0, "cnn": 0.0, "dsp": 0.0, "music_check": 0.0}
    files = sorted(folder.glob("*.ogg"))
    for path in files:
        per_pass: dict[str, list[float]] = {k: [] for k in stages}
        for _ in range(3):
            t0 = time.perf_counter()
            read_tags(path)
            info = probe(path)
            t1 = time.perf_counter()
            windows = [w for w in load_windows(path, window_s=WINDOW_S, max_windows=MAX_WINDOWS)
                       if len(w) >= N_FFT]  # fmt: skip
            t2 = time.perf_counter()
            powers = [power_spectrogram(w) for w in windows]
            mels = [log_mel_from_power(p) for p in powers]
            t3 = time.perf_counter()
            model.run(mels)
            t4 = time.perf_counter()
            dsp = analyse_windows(windows, mels=mels)
            t5 = time.perf_counter()
            check_music(powers, pulse=dsp.pulse, duration_s=info.duration_s)
            t6 = time.perf_counter()
            for name, seconds in zip(
                stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True
            ):
                per_pass[name].append(seconds)
        for name in stages:
            stages[name] += statistics.median(per_pass[name])
    total = sum(stages.values())
    return {
        "files": len(files),
        "seconds": {k: round(v, 3) for k, v in stages.items()},
        "share": {k: round(v / total, 3) for k, v in stages.items()},
        "ms_per_track": round(1000 * total / len(files), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    workloads = {"demo_library": REPO / "demo" / "music"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, tar_name in (("music_clips_30s", "music_clips.tar"),
                               ("music_emotion_15s", "music_emotion.tar")):  # fmt: skip
            if (args.shared / tar_name).exists():
                workloads[name] = unpack_audio(args.shared / tar_name, work / name)
        setups: list[tuple[int, Engine]] = [(1, "process"), (2, "process")]
        if importlib.util.find_spec("ray") is not None:
            setups.append((2, "ray"))
        runs = {
            name: [import_once(folder, workers, work, engine) for workers, engine in setups]
            for name, folder in workloads.items()
        }
        stages = profile(workloads["demo_library"], AudioModel.from_path())
    demo = {r["workers"]: r for r in runs["demo_library"] if r["engine"] == "process"}
    doc = {
        "benchmark": "analysis_throughput",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "analysis": f"up to {MAX_WINDOWS} windows of {WINDOW_S:.0f} s per file "
        "(the whole file when shorter)",
        "runs": runs,
        "profile_demo_library_one_process": stages,
        "target_x_real_time": TARGET_X_REAL_TIME,
        "meets_target": float(demo[2]["x_real_time"]) >= TARGET_X_REAL_TIME,  # type: ignore[arg-type]
        "vs_peer_tracks_per_hour": round(
            float(demo[2]["tracks_per_hour"]) / PEER_TRACKS_PER_HOUR, 1
        ),  # type: ignore[arg-type]
    }
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
