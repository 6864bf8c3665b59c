"""Replicas: two real ``moodtune serve`` processes on one PostgreSQL database and one snapshot
directory follow a catalog import made by a third process (the CLI) within
``MOODTUNE_CATALOG_REFRESH_S``, by mapping the snapshot that process wrote: neither rebuilds
the catalog from SQL."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

POSTGRES_ONLY = [pytest.param("postgresql", marks=pytest.mark.postgres)]


def _write_catalog(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "moodtune", *args, "--json"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_s`` (generous: a busy CI box)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@contextmanager
def _server(env: dict[str, str], log: Path) -> Iterator[str]:
    """``moodtune serve`` in its own process group; yields its base URL once it is ready."""
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moodtune", "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, f"server exited: {log.read_text()}"
        try:
            return httpx.get(f"{url}/api/v1/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait_for(ready, f"{url} to be ready")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _ready(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/api/v1/readyz", timeout=10).json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("db_url", POSTGRES_ONLY, indirect=True)
def test_two_servers_map_the_snapshot_of_an_import_made_by_a_third_process(
    db_url: str, tmp_path: Path, catalog_rows: list[dict[str, str]]
) -> None:
    rows = [r for r in catalog_rows if r["valence"]]
    first = _write_catalog(tmp_path / "first.csv", rows[:800])
    second = _write_catalog(tmp_path / "second.csv", rows[800:1400])
    env = {**os.environ, "MOODTUNE_DATABASE_URL": db_url,
           "MOODTUNE_DATA_DIR": str(tmp_path / "data"), "MOODTUNE_CATALOG_REFRESH_S": "1",
           "MOODTUNE_LOG_LEVEL": "INFO"}  # fmt: skip
    snapshots = tmp_path / "data" / "snapshots"
    _cli(env, "catalog", "import", str(first))
    (written,) = [p.name for p in snapshots.iterdir() if not p.name.startswith(".")]

    with ExitStack() as stack:
        urls = [stack.enter_context(_server(env, tmp_path / f"server{i}.log")) for i in (1, 2)]
        for url in urls:
            ready = _ready(url)
            assert ready["snapshot"] == {"key": written, "origin": "mapped"}
            assert ready["catalog"]["tracks"] == 800

        imported = _cli(env, "catalog", "import", str(second))  # the third process
        assert imported["inserted"] == 600
        new_keys = {p.name for p in snapshots.iterdir() if not p.name.startswith(".")} - {written}
        assert len(new_keys) == 1, "the importing process writes the new version's snapshot"

        def follows(url: str) -> Callable[[], bool]:
            def check() -> bool:  # a ranking request makes the server look for a new version
                response = httpx.post(f"{url}/api/v1/recommendations", json={"emotion": "sad"})
                assert response.status_code == 200, response.text
                return bool(_ready(url)["snapshot"]["key"] in new_keys)

            return check

        for url in urls:
            _wait_for(follows(url), f"{url} to pick up the new catalog version", timeout_s=60)
            ready = _ready(url)
            assert ready["snapshot"]["origin"] == "mapped"
            assert ready["catalog"] == {"tracks": 1400, "placeable": ready["catalog"]["placeable"]}
            assert ready["catalog"]["placeable"] > 1000
    for i in (1, 2):
        log = (tmp_path / f"server{i}.log").read_text()
        assert "mapped in" in log and "built in" not in log, log
