"""Recommendation latency: in-process ranking and POST /recommendations, 82k and 1M tracks.

Compares moodtune's ranker with a plain pandas filter-and-sort implementation of the same
requests in the same run. Prints one JSON object and writes bench/results/recommend_latency.json.

    .venv/bin/python bench/recommend_latency.py [--requests 400] [--million-tracks 1000000]

The 1M-track catalog resamples whole rows of the real catalog (keeping the joint feature
distribution), jitters continuous features by N(0, 0.02) of their range, and spreads the rows
over ~120k artists drawn Zipf-like so the artist cap has work to do.
"""

import argparse
import csv
import gzip
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pandas as pd
from sqlalchemy import insert

from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
from moodtune.catalog.importers import UNIT_FEATURES, import_catalog
from moodtune.catalog.models import Genre, Track, track_genres
from moodtune.recommend import (
    EMOTIONS,
    FEATURES,
    POPULARITY_TARGETS,
    STRATEGIES,
    RankQuery,
    TrackMatrix,
    plan_mood,
    rank,
)
from moodtune.recommend.cells import with_cells

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "src" / "moodtune" / "data" / "spotify_tracks.csv.gz"
RESULTS = REPO / "bench" / "results" / "recommend_latency.json"
UNIT = UNIT_FEATURES


def load_rows() -> list[dict[str, str]]:
    with gzip.open(CATALOG, "rt", encoding="utf-8", newline="") as f:
        return [r for r in csv.DictReader(f) if r["track_name"] and r["valence"]]


def num(text: str) -> float:
    return float(text) if text else float("nan")


def to_frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame({f: [num(r[f]) for r in rows] for f in FEATURES})
    frame["popularity"] = [num(r["popularity"]) for r in rows]
    frame["artist"] = [r["artists"].split(", ")[0].casefold() for r in rows]
    frame["artists"] = [r["artists"] for r in rows]
    frame["title"] = [r["track_name"] for r in rows]
    frame["genres"] = [r["genres_all"] for r in rows]
    return frame


def resample(rows: list[dict[str, str]], n: int, seed: int = 0) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(rows), n)
    artists = rng.zipf(1.3, n) % 120_000
    jitter = rng.normal(0.0, 0.02, (n, len(UNIT)))
    out = []
    for i, (p, a) in enumerate(zip(picks.tolist(), artists.tolist(), strict=True)):
        row = dict(rows[p])
        for j, f in enumerate(UNIT):
            if row[f]:
                row[f] = f"{min(max(float(row[f]) + jitter[i, j], 0.0), 1.0):.4f}"
        row["tempo"] = (
            f"{min(max(num(row['tempo']) * (1 + jitter[i, 0] / 2), 0.0), 300.0):.2f}"
            if row["tempo"]
            else ""
        )
        row["track_id"] = f"{i:022d}"
        row["track_name"] = f"{row['track_name']} #{i}"
        row["artists"] = f"Artist {a}"
        out.append(row)
    return out


def matrix_of(rows: list[dict[str, str]]) -> TrackMatrix:
    """The ranking matrix with its cells, as every process maps it from a snapshot."""
    return with_cells(TrackMatrix.build(
        ids=list(range(len(rows))),
        features={f: [num(r[f]) for r in rows] for f in FEATURES},
        popularity=[num(r["popularity"]) for r in rows],
        explicit=[None] * len(rows),
        artists=[r["artists"].split(", ") for r in rows],
        titles=[r["track_name"] for r in rows],
        genres=[[g for g in r["genres_all"].split(";") if g] for r in rows],
    ))  # fmt: skip


def requests_mix(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """A realistic mix: every strategy, a third with genres, a third with a popularity band."""
    rng = np.random.default_rng(seed)
    mix = []
    for i in range(count):
        probs = rng.dirichlet(np.full(7, 0.3))
        body: dict[str, Any] = {
            "emotions": {e: round(float(p), 4) for e, p in zip(EMOTIONS, probs, strict=True)},
            "strategy": STRATEGIES[i % 4],
            "n": 10,
            "seed": i,
        }
        if i % 3 == 1:
            body["genres"] = list(
                rng.choice(["rock", "pop", "edm", "jazz", "latin", "r&b"], 2, replace=False)
            )
        if i % 3 == 2:
            body["popularity"] = ["mainstream", "medium", "low"][i % 3]
        mix.append(body)
    return mix


def in_process(matrix: TrackMatrix, body: dict[str, Any]) -> list[int]:
    plan = plan_mood(body["emotions"], strategy=body["strategy"], n=body["n"])
    query = RankQuery(
        targets=plan.targets,
        intents=plan.intents,
        n=body["n"],
        journey=body["strategy"] == "journey",
        genres=tuple(body.get("genres", ())),
        popularity=body.get("popularity", "any"),
        seed=body["seed"],
    )
    return [t.id for t in rank(matrix, query)]


def pandas_baseline(frame: pd.DataFrame, body: dict[str, Any]) -> list[int]:
    """The same request the obvious way: filter, score every row, sort, cap artists, take n."""
    plan = plan_mood(body["emotions"], strategy=body["strategy"], n=body["n"])
    data = frame
    if body.get("genres"):
        data = data[
            data["genres"].str.split(";").apply(lambda gs: bool(set(gs) & set(body["genres"])))
        ]
    data = data.fillna(data.median(numeric_only=True))
    chosen: list[int] = []
    for target in plan.targets:
        weights = target.weights
        dist = sum(
            w * ((data[f] - target.values[f]) / (150 if f == "tempo" else 1)) ** 2
            for f, w in weights.items()
        )
        score = 1 - np.sqrt(dist / sum(weights.values()))
        if body.get("popularity"):
            score = 0.75 * score + 0.25 * (
                1 - (data["popularity"] - POPULARITY_TARGETS[body["popularity"]]).abs() / 100
            )
        ranked = data.assign(score=score).sort_values("score", ascending=False).head(1000)
        ranked = ranked[~ranked.index.isin(chosen)].drop_duplicates(["artist", "title"])
        ranked = ranked[ranked.groupby("artist").cumcount() < 2]
        take = 1 if len(plan.targets) > 1 else body["n"]
        chosen.extend(ranked.index[:take].tolist())
    return chosen


def timed(fn: Any, items: list[Any]) -> list[float]:
    out = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
        "n": len(ordered),
    }


def serve(database_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``moodtune serve`` in its own process, as deployed, so the load client shares no GIL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MOODTUNE_DATABASE_URL": database_url, "MOODTUNE_DATA_DIR": str(data_dir),
           "MOODTUNE_LOG_LEVEL": "WARNING"}  # fmt: skip
    command = [
        sys.executable,
        "-c",
        "from moodtune.cli import app; app()",
        "serve",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 900
    while True:
        try:
            if httpx.get(f"{url}/api/v1/readyz", timeout=5).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.time() > deadline:
            server.kill()
            raise RuntimeError("moodtune serve did not become ready")
        time.sleep(0.25)


def http_latency(
    database_url: str, data_dir: Path, bodies: list[dict[str, Any]]
) -> dict[str, float]:
    server, url = serve(database_url, data_dir)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for body in bodies[:20]:  # warm-up: connection, first queries
                client.post("/api/v1/recommendations", json=body).raise_for_status()

            def call(body: dict[str, Any]) -> None:
                client.post("/api/v1/recommendations", json=body).raise_for_status()

            return summary(timed(call, bodies))
    finally:
        server.terminate()
        server.wait(30)


def bulk_load(database_url: str, rows: list[dict[str, str]]) -> None:
    """Insert synthetic rows directly (the importer's per-row checks would dominate at 1M)."""
    engine = create_db_engine(database_url)
    migrate(engine)
    names = sorted({g for r in rows for g in r["genres_all"].split(";") if g})
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(Genre), [{"name": g} for g in names])
        genre_id = {g: i + 1 for i, g in enumerate(names)}
        for start in range(0, len(rows), 50_000):
            chunk = rows[start : start + 50_000]
            conn.execute(
                insert(Track), [_track_row(start + i + 1, r, now) for i, r in enumerate(chunk)]
            )
            links = [
                {"track_id": start + i + 1, "genre_id": genre_id[g]}
                for i, r in enumerate(chunk)
                for g in r["genres_all"].split(";")
                if g
            ]
            if links:
                conn.execute(insert(track_genres), links)
    engine.dispose()


def _track_row(track_id: int, r: dict[str, str], now: datetime) -> dict[str, Any]:
    features = {f: (num(r[f]) if r[f] else None) for f in FEATURES if f != "mode"}
    return {
        "id": track_id,
        "spotify_id": r["track_id"],
        "source": "bench",
        "title": r["track_name"],
        "artists": r["artists"].split(", "),
        "search_text": r["track_name"].casefold(),
        "popularity": int(float(r["popularity"])) if r["popularity"] else None,
        "mode": int(float(r["mode"])) if r["mode"] else None,
        "created_at": now,
        "updated_at": now,
        **features,
    }


def run_size(
    label: str,
    rows: list[dict[str, str]],
    bodies: list[dict[str, Any]],
    workdir: Path,
    *,
    db_url: str | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    matrix = matrix_of(rows)
    build_s = time.perf_counter() - started
    frame = to_frame(rows)
    for body in bodies[:8]:
        in_process(matrix, body)
    ours = timed(lambda b: in_process(matrix, b), bodies)
    static = [b for b in bodies if b["strategy"] != "journey"]
    journeys = [b for b in bodies if b["strategy"] == "journey"]
    sample = bodies[:: max(1, len(bodies) // 40)]  # pandas is slow: a spread-out subset
    pandas_ms = timed(lambda b: pandas_baseline(frame, b), sample)
    ours_on_sample = timed(lambda b: in_process(matrix, b), sample)
    result: dict[str, Any] = {
        "tracks": len(matrix),
        "matrix_build_s": round(build_s, 2),
        "matrix_mb": round((matrix.features.nbytes + matrix.values.nbytes) / 2**20, 1),
        "in_process": summary(ours),
        "in_process_static": summary(timed(lambda b: in_process(matrix, b), static)),
        "in_process_journey": summary(timed(lambda b: in_process(matrix, b), journeys)),
        "pandas_baseline": summary(pandas_ms),
        "speedup_vs_pandas_p50": round(
            statistics.median(pandas_ms) / statistics.median(ours_on_sample), 1
        ),
    }
    if db_url is None:
        db_url = f"sqlite:///{workdir / f'{label}.db'}"
        bulk_load(db_url, rows)
    result["http"] = http_latency(db_url, workdir, bodies)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument(
        "--million-tracks", type=int, default=1_000_000, help="size of the resampled catalog"
    )
    args = parser.parse_args()
    rows = load_rows()
    bodies = requests_mix(args.requests)
    with tempfile.TemporaryDirectory(prefix="moodtune-bench-") as tmp:
        workdir = Path(tmp)
        real_db = f"sqlite:///{workdir / 'real.db'}"
        engine = create_db_engine(real_db)
        migrate(engine)
        started = time.perf_counter()
        report = import_catalog(CATALOG, session_factory=make_session_factory(engine))
        import_s = time.perf_counter() - started
        engine.dispose()
        results = {
            "benchmark": "recommend_latency",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "requests": args.requests,
            "mix": "25% each strategy (journey = 10 ordered targets); 1/3 with 2 genres, "
            "1/3 with a popularity band; n=10",
            "catalog_import_s": round(import_s, 1),
            "catalog_import_rows_per_s": round(report.rows / import_s),
            "real_82k": run_size("real", rows, bodies, workdir, db_url=real_db),
            "resampled_1m": (
                run_size(
                    "million", resample(rows, args.million_tracks), bodies, workdir, db_url=None
                )
                if args.million_tracks
                else None
            ),
            "targets": {"in_process_p99_ms_82k": 10, "http_p99_ms_82k": 30},
        }
    real = results["real_82k"]
    results["targets_met"] = {
        "in_process_p99_ms_82k": real["in_process"]["p99_ms"] <= 10,
        "http_p99_ms_82k": real["http"]["p99_ms"] <= 30,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
