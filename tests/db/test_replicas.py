"""Replicas: two real ``moodtune serve`` processes on one PostgreSQL database and one snapshot
directory follow a catalog import made by a third process (the CLI) within
``MOODTUNE_CATALOG_REFRESH_S``, by mapping the snapshot that process wrote: neither rebuilds
the catalog from SQL."""

import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.processes import cli_json, moodtune_server, readyz, wait_for, write_catalog

POSTGRES_ONLY = [pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("db_url", POSTGRES_ONLY, indirect=True)
def test_two_servers_map_the_snapshot_of_an_import_made_by_a_third_process(
    db_url: str, tmp_path: Path, catalog_rows: list[dict[str, str]]
) -> None:
    rows = [r for r in catalog_rows if r["valence"]]
    first = write_catalog(tmp_path / "first.csv", rows[:800])
    second = write_catalog(tmp_path / "second.csv", rows[800:1400])
    env = {**os.environ, "MOODTUNE_DATABASE_URL": db_url,
           "MOODTUNE_DATA_DIR": str(tmp_path / "data"), "MOODTUNE_CATALOG_REFRESH_S": "1",
           "MOODTUNE_LOG_LEVEL": "INFO"}  # fmt: skip
    snapshots = tmp_path / "data" / "snapshots"
    cli_json(env, "catalog", "import", str(first))
    (written,) = [p.name for p in snapshots.iterdir() if not p.name.startswith(".")]

    with ExitStack() as stack:
        logs = [tmp_path / f"server{i}.log" for i in (1, 2)]
        urls = [stack.enter_context(moodtune_server(env, log)) for log in logs]
        for url in urls:
            ready = readyz(url)
            assert ready["snapshot"] == {"key": written, "origin": "mapped"}
            assert ready["catalog"]["tracks"] == 800

        imported = cli_json(env, "catalog", "import", str(second))  # the third process
        assert imported["inserted"] == 600
        new_keys = {p.name for p in snapshots.iterdir() if not p.name.startswith(".")} - {written}
        assert len(new_keys) == 1, "the importing process writes the new version's snapshot"

        def follows(url: str) -> Callable[[], bool]:
            def check() -> bool:  # a ranking request makes the server look for a new version
                response = httpx.post(f"{url}/api/v1/recommendations", json={"emotion": "sad"})
                assert response.status_code == 200, response.text
                return bool(readyz(url)["snapshot"]["key"] in new_keys)

            return check

        for url in urls:
            wait_for(follows(url), f"{url} to pick up the new catalog version", timeout_s=60)
            ready = readyz(url)
            assert ready["snapshot"]["origin"] == "mapped"
            assert ready["catalog"] == {"tracks": 1400, "placeable": ready["catalog"]["placeable"]}
            assert ready["catalog"]["placeable"] > 1000
    for i in (1, 2):
        log = (tmp_path / f"server{i}.log").read_text()
        assert "mapped in" in log and "built in" not in log, log
