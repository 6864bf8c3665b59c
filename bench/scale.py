"""Scale: snapshots and the bounded exact search against the exhaustive ranker, 82k to 10M tracks.

For each catalog (the real 82k, and 1M and 10M resampled from it by
``moodtune.recommend.synthetic.resample``) in one run:

* cell build, snapshot write time and size;
* a fresh process that maps the snapshot and locks what requests read in memory, as a server
  does: start to first answer, then p50/p99 of each request type and its peak RSS (it never
  builds or scans anything);
* the exhaustive ranker (every eligible row scored, as before cells) on the same requests in
  this process, and whether every list is identical to the bounded search's;
* at 1M, a rebuild: building the matrix from columns as the database gives them (numbers,
  artist lists, stored song keys, genre links), what a process does when no snapshot exists
  (the SQL fetch before it not counted);
* at 82k, on a real SQLite catalog: the whole build of a snapshot from SQL (fetch, matrix,
  cells, write), and ``moodtune recommend --json`` against ``moodtune --help``.

Prints one JSON object and writes bench/results/scale.json.

    .venv/bin/python bench/scale.py [--sizes 82k,1m,10m] [--requests 100]
"""

import argparse
import csv
import gzip
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
from moodtune.catalog.importers import import_catalog
from moodtune.catalog.index import load_snapshot
from moodtune.catalog.snapshot import SnapshotStore
from moodtune.recommend import EMOTIONS, FEATURES, RankQuery, TrackMatrix, plan_mood, rank
from moodtune.recommend.cells import ApartRows, with_cells
from moodtune.recommend.genres import GenreLinks
from moodtune.recommend.similar import EmbeddingTable
from moodtune.recommend.synthetic import resample
from moodtune.recommend.taste import LogisticTaste, TasteSpace
from moodtune.service import ListenerTaste

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "src" / "moodtune" / "data" / "spotify_tracks.csv.gz"
RESULTS = REPO / "bench" / "results" / "scale.json"
SIZES = {"82k": 0, "1m": 1_000_000, "10m": 10_000_000}
GENRES = ("rock", "pop", "edm", "jazz", "latin", "r&b", "classical", "ambient", "metal")
TYPES = ("static", "genre", "genres", "popularity", "explicit", "playable", "journey", "taste",
         "journey_taste", "preset_table")  # fmt: skip


def num(text: str) -> float | None:
    return float(text) if text else None


def catalog_of(label: str, real: TrackMatrix) -> TrackMatrix:
    """The catalog of one size: the real one, or as many tracks resampled from it."""
    n = SIZES[label]
    return real if n == 0 else resample(real, n, seed=20261206, playable_share=0.05)


def write_snapshot(store: SnapshotStore, matrix: TrackMatrix) -> Path:
    """The matrix's snapshot (no audio embeddings), as key ``bench``."""
    empty = EmbeddingTable(np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
    return store.write("bench", (len(matrix), None), matrix, empty)


def real_columns() -> dict[str, Any]:
    with gzip.open(CATALOG, "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["track_name"] and r["valence"]]
    return {
        "ids": list(range(1, len(rows) + 1)),
        "features": {f: [num(r[f]) for r in rows] for f in FEATURES},
        "popularity": [num(r["popularity"]) for r in rows],
        "explicit": [r.get("explicit") == "True" for r in rows],
        "artists": [r["artists"].split(", ") for r in rows],
        "titles": [r["track_name"] for r in rows],
        "genres": [[g for g in r["genres_all"].split(";") if g] for r in rows],
    }


def columns_of(matrix: TrackMatrix) -> dict[str, Any]:
    """The columns ``repo.matrix_columns`` gives for this matrix's tracks: numbers as arrays,
    one artist list and one stored song key per track, genres as (row, genre) links."""
    names = sorted(matrix.genres)
    rows = [matrix.genres[g] for g in names]
    return {
        "ids": matrix.ids.copy(),
        "features": {f: np.array(matrix.values[:, i], np.float64) for i, f in enumerate(FEATURES)},
        "popularity": np.array(matrix.popularity, np.float64),
        "explicit": np.array(matrix.explicit),
        "artists": [[f"artist {a}"] for a in matrix.artist_codes.tolist()],
        "titles": [f"title {i}" for i in range(len(matrix))],
        "song_keys": [f"artist\x1fsong {i}" for i in range(len(matrix))],
        "genres": GenreLinks(
            len(matrix),
            np.concatenate(rows) if rows else np.zeros(0, np.int64),
            np.repeat(np.arange(len(names)), [len(r) for r in rows]),
            names,
        ),
    }


_SPACES: dict[int, TasteSpace] = {}
_APART: dict[int, ApartRows | None] = {}


def taste_space(matrix: TrackMatrix) -> TasteSpace:
    """The service's taste space over this matrix, with the playable tracks analysed (random
    128-dimensional embeddings, as many as a large music library)."""
    if id(matrix) not in _SPACES:
        rows = matrix.playable_rows
        # float32 from the start: a float64 draw would add a transient of 512 MB at 10M that a
        # server, which maps its embeddings from the snapshot, never has
        shape = (len(rows), 128)
        vectors = np.random.default_rng(1).standard_normal(shape, dtype=np.float32)
        _SPACES[id(matrix)] = TasteSpace.build(
            matrix.ids, matrix.features, (matrix.ids[rows], vectors),
            columns=matrix.taste_columns(),
        )  # fmt: skip
    return _SPACES[id(matrix)]


def apart_rows(matrix: TrackMatrix) -> ApartRows | None:
    """The analysed tracks in cells of their own, as the service keeps them per snapshot."""
    if id(matrix) not in _APART:
        _APART[id(matrix)] = ApartRows.of(matrix, taste_space(matrix).embedded_rows)
    return _APART[id(matrix)]


def taste_of(matrix: TrackMatrix, rng: np.random.Generator) -> np.ndarray:
    """A listener's logistic taste in the service's taste space, scored as the service does
    (a block of rows at a time)."""
    space = taste_space(matrix)
    model = LogisticTaste(rng.normal(0.0, 1.5, space.width).astype(np.float32), -0.5)
    return space.score(model)


def requests(kind: str, count: int, seed: int, matrix: TrackMatrix) -> list[dict[str, Any]]:
    """``count`` requests of one type, as JSON-able specs (the child process rebuilds them)."""
    rng = np.random.default_rng([seed, TYPES.index(kind)])
    out = []
    for i in range(count):
        spec: dict[str, Any] = {
            "emotions": dict(zip(EMOTIONS, rng.dirichlet(np.full(7, 0.3)).tolist(), strict=True)),
            "strategy": "journey" if kind.startswith("journey") else
                        ("match", "uplift", "calm")[i % 3],
            "preset": "seed002" if kind == "preset_table" else "heard",
            "seed": i,
        }  # fmt: skip
        genres = [g for g in GENRES if g in matrix.genres]
        if kind == "genre":
            spec["genres"] = [genres[i % len(genres)]]
        if kind == "genres":
            spec["genres"] = rng.choice(genres, 2, replace=False).tolist()
        if kind == "popularity":
            spec["popularity"] = ("mainstream", "medium", "low")[i % 3]
        if kind == "explicit":
            spec["allow_explicit"] = False
        if kind == "playable":
            spec["playable_only"] = True
        if kind.endswith("taste"):
            spec["taste_seed"] = int(rng.integers(2**31))
        out.append(spec)
    return out


def query_of(spec: dict[str, Any], matrix: TrackMatrix) -> RankQuery:
    plan = plan_mood(spec["emotions"], strategy=spec["strategy"], n=10, preset=spec["preset"])
    taste = None
    if "taste_seed" in spec:  # scores and their bounds, as the service's taste cache holds them
        scores = taste_of(matrix, np.random.default_rng(spec["taste_seed"]))
        taste = ListenerTaste.of(scores, matrix, apart_rows(matrix))
    return RankQuery(
        targets=plan.targets, intents=plan.intents, n=10, journey=spec["strategy"] == "journey",
        points=plan.path, heard_weight=plan.heard_weight, genres=tuple(spec.get("genres", ())),
        popularity=spec.get("popularity", "any"), allow_explicit=spec.get("allow_explicit", True),
        playable_only=spec.get("playable_only", False),
        taste=taste.scores if taste is not None else None,
        taste_weight=0.3 if taste is not None else 0.0,
        taste_cell_max=taste.cell_max if taste is not None else None,
        taste_bounds=taste.bounds if taste is not None else None, seed=spec["seed"],
    )  # fmt: skip


def summary(ms: list[float]) -> dict[str, float]:
    """Median, p99 by nearest rank (of 100 requests the 99th slowest; of 30, the slowest) and
    the slowest."""
    ordered = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[math.ceil(0.99 * len(ordered)) - 1], 3),
        "max_ms": round(ordered[-1], 3),
        "n": len(ordered),
    }


CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
from scale import query_of, summary
from moodtune.catalog.index import load_snapshot
from moodtune.catalog.snapshot import SnapshotStore
from moodtune.recommend import rank
from moodtune.recommend.heard import HeardMoodModel
def rss_parts():
    # VmHWM, not getrusage's ru_maxrss, which also counts the forked copy of the parent before
    # exec; anonymous memory is this process's own; file pages are the snapshot's, shared through
    # the page cache by every process that maps it (and counted in each one's RSS)
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(status[k].split()[0]) / 1024 for k in ("VmHWM", "VmRSS", "RssAnon", "RssFile")}
store = SnapshotStore(__import__("pathlib").Path(sys.argv[1]))
files = store.read("bench", heard_model=HeardMoodModel.from_path())
kept = files.keep_in_memory()  # as a server does (MOODTUNE_SNAPSHOT_LOCK)
specs = json.loads(open(sys.argv[2]).read())
first = rank(files.matrix, query_of(specs["static"][0], files.matrix))
out = {"start_to_first_answer_s": time.time() - float(sys.argv[4]), "lists": {}, "latency": {},
       "locked_mb": kept.locked_bytes / 2**20, "lock_refused": kept.refused}
for kind, items in specs.items():
    ms, lists = [], []
    for spec in items:
        q = query_of(spec, files.matrix)  # taste scores are the cache's work: not timed
        t = time.perf_counter()
        lists.append([(r.id, r.score) for r in rank(files.matrix, q)])
        ms.append((time.perf_counter() - t) * 1000)
    out["latency"][kind] = summary(ms)
    out["lists"][kind] = lists
    if kind == "playable":  # before the taste types, whose score arrays the bench computes
        out["peak_rss_before_taste_mb"] = rss_parts()["VmHWM"]
        out["rss_before_taste"] = rss_parts()
out["peak_rss_mb"] = rss_parts()["VmHWM"]
out["rss_at_end"] = rss_parts()
print(json.dumps(out))
"""


def mapped_process(
    store_root: Path, specs: dict[str, list[dict[str, Any]]], workdir: Path
) -> dict[str, Any]:
    """Run the requests in a fresh interpreter that maps the snapshot; start to first answer
    is wall-clock time from just before the process is spawned."""
    spec_file = workdir / "specs.json"
    spec_file.write_text(json.dumps(specs))
    command = [sys.executable, "-c", CHILD, str(store_root), str(spec_file), str(REPO / "bench")]
    spawned = time.time()
    stdout = subprocess.run(command + [repr(spawned)], check=True, capture_output=True,
                            text=True).stdout  # fmt: skip
    return json.loads(stdout)  # type: ignore[no-any-return]


def run_size(label: str, matrix: TrackMatrix, count: int, workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    matrix = with_cells(matrix)
    cells_s = time.perf_counter() - started
    store = SnapshotStore(workdir / f"snapshots-{label}")
    started = time.perf_counter()
    path = write_snapshot(store, matrix)
    write_s = time.perf_counter() - started
    size = sum(f.stat().st_size for f in path.iterdir())
    started = time.perf_counter()
    apart = apart_rows(matrix)
    apart_s = time.perf_counter() - started
    taste = taste_of(matrix, np.random.default_rng(0))
    started = time.perf_counter()
    if apart is not None:  # a listener's cells of the analysed tracks, cached with the scores
        apart.bounds(matrix, taste)
    bounds_s = time.perf_counter() - started
    specs = {kind: requests(kind, count, 20261206, matrix) for kind in TYPES}
    mapped = mapped_process(store.root, specs, workdir)
    exhaustive: dict[str, Any] = {}
    identical, compared = 0, 0
    for kind, items in specs.items():
        ms = []
        for spec, pruned in zip(items, mapped["lists"][kind], strict=True):
            query = query_of(spec, matrix)
            t = time.perf_counter()
            lists = [[r.id, r.score] for r in rank(matrix, query, exhaustive=True)]
            ms.append((time.perf_counter() - t) * 1000)
            identical += lists == [list(p) for p in pruned]
            compared += 1
        exhaustive[kind] = summary(ms)
    ratios = {
        k: round(exhaustive[k]["p99_ms"] / max(mapped["latency"][k]["p99_ms"], 1e-3), 1)
        for k in TYPES
    }
    return {
        "tracks": len(matrix),
        "cells": len(matrix.cells) if matrix.cells is not None else 0,
        "cell_build_s": round(cells_s, 2),
        "snapshot_write_s": round(write_s, 2),
        "taste_space_and_apart_rows_s": round(apart_s, 2),
        "listener_taste_bounds_s": round(bounds_s, 3),
        "snapshot_mb": round(size / 2**20, 1),
        "mapped_process_locked_mb": round(mapped["locked_mb"], 1),
        "mapped_process_lock_refused": mapped["lock_refused"],
        "process_start_to_first_answer_s": round(mapped["start_to_first_answer_s"], 3),
        "mapped_process_peak_rss_mb": round(mapped["peak_rss_mb"], 1),
        "mapped_process_peak_rss_before_taste_mb": round(mapped["peak_rss_before_taste_mb"], 1),
        "mapped_process_rss_mb_before_taste": mapped["rss_before_taste"],
        "mapped_process_rss_mb_at_end": mapped["rss_at_end"],
        "bounded_search": mapped["latency"],
        "exhaustive": exhaustive,
        "p99_ratio_exhaustive_over_bounded": ratios,
        "identical_lists": f"{identical}/{compared}",
    }


def rebuild_s(matrix: TrackMatrix) -> float:
    columns = columns_of(matrix)
    started = time.perf_counter()
    TrackMatrix.build(**columns)
    return time.perf_counter() - started


def cli_timings(workdir: Path) -> dict[str, Any]:
    """``moodtune recommend`` on the real catalog in SQLite against ``moodtune --help``."""
    db = workdir / "cli.db"
    engine = create_db_engine(f"sqlite:///{db}")
    migrate(engine)
    import_catalog(CATALOG, session_factory=make_session_factory(engine))
    engine.dispose()
    env = {
        **os.environ,
        "MOODTUNE_DATABASE_URL": f"sqlite:///{db}",
        "MOODTUNE_DATA_DIR": str(workdir / "cli-data"),
        "MOODTUNE_LOG_LEVEL": "WARNING",
    }
    moodtune = [sys.executable, "-m", "moodtune"]
    engine = create_db_engine(env["MOODTUNE_DATABASE_URL"])
    with make_session_factory(engine)() as session:
        started = time.perf_counter()
        built = load_snapshot(session, SnapshotStore(workdir / "sql-build"))
        sql_build_s = time.perf_counter() - started
    engine.dispose()
    assert built.origin == "built"

    def timed(args: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(moodtune + args, env=env, check=True, capture_output=True)
        return time.perf_counter() - started

    recommend = ["recommend", "--emotion", "sad", "--json"]
    first = timed(recommend)  # builds the snapshot of this catalog version
    runs = [timed(recommend) for _ in range(5)]
    help_runs = [timed(["--help"]) for _ in range(5)]
    return {
        "snapshot_build_from_sql_s": round(sql_build_s, 2),
        "first_recommend_s (builds the snapshot)": round(first, 3),
        "recommend_median_s": round(statistics.median(runs), 3),
        "help_median_s": round(statistics.median(help_runs), 3),
        "ratio": round(statistics.median(runs) / statistics.median(help_runs), 2),
    }


def run_header(benchmark: str) -> dict[str, Any]:
    """What every result file starts with: the benchmark, when, and on what."""
    return {
        "benchmark": benchmark,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="82k,1m,10m")
    parser.add_argument(
        "--requests", type=int, default=100,
        help="requests per type and size (a p99 of fewer than 100 is the slowest one)",
    )  # fmt: skip
    args = parser.parse_args()
    real = with_cells(TrackMatrix.build(**real_columns()))
    results: dict[str, Any] = {
        **run_header("scale"),
        "requests_per_type": args.requests,
        "request_types": list(TYPES),
    }
    with tempfile.TemporaryDirectory(prefix="moodtune-scale-") as tmp:
        workdir = Path(tmp)
        for label in args.sizes.split(","):
            matrix = catalog_of(label, real)
            results[label] = run_size(label, matrix, args.requests, workdir)
            if label == "1m":
                rebuild = rebuild_s(matrix)
                results[label]["rebuild_from_columns_s"] = round(rebuild, 2)
                results[label]["start_ratio_rebuild_over_mapped"] = round(
                    rebuild / results[label]["process_start_to_first_answer_s"], 1
                )
            print(json.dumps({label: results[label]}, indent=1), file=sys.stderr, flush=True)
        if "82k" in args.sizes.split(","):
            results["cli_82k"] = cli_timings(workdir)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
