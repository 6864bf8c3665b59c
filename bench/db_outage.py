"""A database outage as clients see it: how fast 503 comes, what the log says, when it heals.

    .venv/bin/python bench/db_outage.py [--requests 200]

Starts a throwaway PostgreSQL server (tests/pgcluster.py; needs the postgresql package) and the
app on it (in-process, Starlette's TestClient), then for each way a database goes away (`pg_ctl
stop -m fast`: a server shutting down; `-m immediate`: one that dies) times GET /api/v1/tracks
while it is down (the first request, then ``--requests`` more), counts the warnings the app
logs, restarts the server and times how long until /readyz says 200 again. Prints one JSON
object and writes bench/results/db_outage.json. Target: 503 within 100 ms.
"""

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.pgcluster

from fastapi.testclient import TestClient  # noqa: E402

from moodtune.api import create_app  # noqa: E402
from moodtune.config import Settings  # noqa: E402
from tests.pgcluster import PostgresCluster  # noqa: E402

RESULTS = REPO / "bench" / "results" / "db_outage.json"
TARGET_MS = 100.0


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def timed_get(client: TestClient, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    status = client.get(path).status_code
    return status, (time.perf_counter() - started) * 1000


def one_outage(client: TestClient, cluster: PostgresCluster, mode: str, n: int) -> dict:
    log = Collect()
    logging.getLogger().addHandler(log)
    try:
        cluster.stop(mode)
        first_status, first_ms = timed_get(client, "/api/v1/tracks")
        later = [timed_get(client, "/api/v1/tracks") for _ in range(n)]
        cluster.start()
        restarted = time.perf_counter()
        while client.get("/api/v1/readyz").status_code != 200:
            time.sleep(0.02)
        healed_s = time.perf_counter() - restarted
    finally:
        logging.getLogger().removeHandler(log)
    ms = sorted(m for _, m in later)
    return {
        "first_request": {"status": first_status, "ms": round(first_ms, 1)},
        "while_down": {
            "statuses": sorted({s for s, _ in later}),
            "median_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2),
            "max_ms": round(ms[-1], 2),
        },
        "log": {
            "warnings": [r.getMessage()[:120] for r in log.records if r.levelno == logging.WARNING],
            "errors_or_tracebacks": sum(
                1 for r in log.records if r.levelno >= logging.ERROR or r.exc_info
            ),
        },
        "ready_again_after_restart_s": round(healed_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    cluster = PostgresCluster().start()
    try:
        url = cluster.create_database("moodtune")
        settings = Settings(database_url=url, data_dir=Path(tempfile.mkdtemp()))
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            assert client.get("/api/v1/readyz").status_code == 200
            outages = {
                m: one_outage(client, cluster, m, args.requests) for m in ("fast", "immediate")
            }
    finally:
        cluster.remove()
    results = {
        "benchmark": "db_outage",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "route": "GET /api/v1/tracks",
        "outages": outages,
        "target_ms": TARGET_MS,
        "targets_met": all(
            o["first_request"]["ms"] <= TARGET_MS and o["while_down"]["max_ms"] <= TARGET_MS
            for o in outages.values()
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
