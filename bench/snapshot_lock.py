"""A server's requests after a quiet spell, with the snapshot's per-row columns locked in
memory (``MOODTUNE_SNAPSHOT_LOCK``, a server's default) and without.

Why: the OS may reclaim mapped pages nobody touched for a while even with memory free (this
project's machines run DAMON proactive reclaim; a container's ``memory.high`` does the same),
and the next request that needs them waits on disk. One snapshot (10M tracks by default,
resampled from the real 82k as in ``bench/scale.py``); for each setting in turn, a fresh
process maps it, answers the requests, sits idle, then answers the same requests again. Beside
each pass: the share of the per-row columns' pages still in the page cache (``mincore``). On a
machine that reclaims nothing while idle both passes match, with or without the lock.

Prints one JSON object and writes bench/results/snapshot_lock.json.

    .venv/bin/python bench/snapshot_lock.py [--size 10m] [--idle-s 150] [--type preset_table]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scale import SIZES, TYPES, catalog_of, real_columns, requests, run_header, write_snapshot

from moodtune.catalog.snapshot import SnapshotStore
from moodtune.recommend import TrackMatrix
from moodtune.recommend.cells import with_cells

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "snapshot_lock.json"

CHILD = r"""
import ctypes, json, mmap, resource, sys, time
sys.path.insert(0, sys.argv[3])
from pathlib import Path
import numpy as np
from scale import query_of, summary
from moodtune.catalog.snapshot import SnapshotStore
from moodtune.recommend import rank
from moodtune.recommend.heard import HeardMoodModel
libc = ctypes.CDLL(None, use_errno=True)
def resident_share(arrays):
    # mincore(2) over each array's pages (the standard library has none)
    resident = total = 0
    for a in arrays:
        start = a.__array_interface__["data"][0]
        offset = start % mmap.PAGESIZE
        pages = (a.nbytes + offset + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vec = (ctypes.c_ubyte * pages)()
        length = ctypes.c_size_t(a.nbytes + offset)
        assert libc.mincore(ctypes.c_void_p(start - offset), length, vec) == 0
        resident += int((np.frombuffer(vec, np.uint8) & 1).sum())
        total += pages
    return resident / total
files = SnapshotStore(Path(sys.argv[1])).read("bench", heard_model=HeardMoodModel.from_path())
kept = files.keep_in_memory() if sys.argv[4] == "locked" else None
specs = json.loads(Path(sys.argv[2]).read_text())
queries = [query_of(spec, files.matrix) for spec in specs]
def answer():
    before = resident_share(files.per_row)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
    ms = []
    for q in queries:
        t = time.perf_counter()
        rank(files.matrix, q)
        ms.append((time.perf_counter() - t) * 1000)
    majflt = resource.getrusage(resource.RUSAGE_SELF).ru_majflt - faults
    return {**summary(ms), "resident_share_before": round(before, 4), "major_faults": majflt}
out = {"locked_mb": round(kept.locked_bytes / 2**20, 1) if kept else 0.0,
       "fresh": answer()}
time.sleep(float(sys.argv[5]))
out["after_idle"] = answer()
print(json.dumps(out))
"""


def snapshot_of(size: str, workdir: Path) -> tuple[SnapshotStore, TrackMatrix]:
    real = with_cells(TrackMatrix.build(**real_columns()))
    matrix = with_cells(catalog_of(size, real))
    store = SnapshotStore(workdir / "snapshots")
    write_snapshot(store, matrix)
    return store, matrix


def idle_run(store: SnapshotStore, spec_file: Path, setting: str, idle_s: float) -> dict[str, Any]:
    command = [sys.executable, "-c", CHILD, str(store.root), str(spec_file), str(REPO / "bench"),
               setting, str(idle_s)]  # fmt: skip
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="10m", choices=list(SIZES))
    parser.add_argument("--idle-s", type=float, default=150.0)
    parser.add_argument("--type", default="preset_table", choices=TYPES)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    results: dict[str, Any] = {
        **run_header("snapshot_lock"),
        "size": args.size,
        "request_type": args.type,
        "idle_s": args.idle_s,
    }
    with tempfile.TemporaryDirectory(prefix="moodtune-lock-") as tmp:
        store, matrix = snapshot_of(args.size, Path(tmp))
        spec_file = Path(tmp) / "specs.json"
        spec_file.write_text(json.dumps(requests(args.type, args.requests, 20261206, matrix)))
        del matrix  # the runs below map the snapshot; this process's copy would only crowd them
        for setting in ("unlocked", "locked"):
            results[setting] = idle_run(store, spec_file, setting, args.idle_s)
            print(json.dumps({setting: results[setting]}), file=sys.stderr, flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
