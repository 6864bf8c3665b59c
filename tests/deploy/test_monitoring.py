"""The shipped monitoring against a real Prometheus (Debian's ``prometheus`` package) scraping a
live moodtune: the alert rules load and evaluate, and every query of the Grafana dashboard
returns a series. ``make test-deploy`` runs these (not ``make test``)."""

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.live import demo_settings, serve
from tests.processes import free_port, wait_for
from tests.required import unavailable

pytestmark = pytest.mark.deploy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "moodtune.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        unavailable("Prometheus", "MOODTUNE_REQUIRE_PROMETHEUS", f"{name} is missing")
    return found


def _dashboard_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p["targets"]]


def test_the_shipped_rules_and_config_are_valid() -> None:
    promtool = _tool("promtool")
    config = DEPLOY / "prometheus" / "prometheus.yml"
    for check in (["rules", str(ALERTS)], ["config", str(config)]):
        done = subprocess.run([promtool, "check", *check], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "moodtune" and len(dashboard["panels"]) >= 10
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(expr.strip() for _, expr in _dashboard_queries())


@pytest.fixture
def moodtune_url(tmp_path: Path, small_catalog: Path) -> Iterator[str]:
    """A live moodtune with the catalog slice and four analysed demo tracks."""
    with serve(demo_settings(tmp_path / "data", small_catalog)) as url:
        yield url


@pytest.fixture
def prometheus(tmp_path: Path, moodtune_url: str) -> Iterator[str]:
    """Prometheus scraping ``moodtune_url`` every second, with the shipped alert rules."""
    binary = _tool("prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{json.dumps(str(ALERTS))}]\n"
        "scrape_configs:\n"
        "  - job_name: moodtune\n"
        f"    static_configs: [{{targets: [{json.dumps(moodtune_url.removeprefix('http://'))}]}}]\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
        try:
            return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, "Prometheus to start")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()


def _traffic(url: str) -> None:
    """A bit of everything the dashboard shows: playlists, photos with and without a face,
    an error."""
    for strategy in ("match", "uplift", "calm", "journey"):
        httpx.post(f"{url}/api/v1/recommendations", json={"emotion": "sad", "strategy": strategy})
    for name in ("astronaut.jpg", "coffee.jpg"):
        photo = (FIXTURES / name).read_bytes()
        httpx.post(f"{url}/api/v1/emotions", files={"image": (name, photo)}, timeout=30)
    httpx.get(f"{url}/api/v1/tracks/999999999")


def _series(prometheus: str, expr: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]  # type: ignore[no-any-return]


def test_every_dashboard_query_returns_a_series_from_a_live_scrape(
    moodtune_url: str, prometheus: str
) -> None:
    queries = _dashboard_queries()
    empty = [title for title, _ in queries]
    deadline = time.monotonic() + 180
    while empty:  # rates need two scrapes of a counter that moved
        assert time.monotonic() < deadline, f"no series for: {empty}"
        _traffic(moodtune_url)
        empty = [title for title, expr in queries if not _series(prometheus, expr)]
    library = _series(prometheus, "max(moodtune_library_tracks)")
    assert float(library[0]["value"][1]) == 4  # type: ignore[index]

    def evaluated() -> bool:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return len(rules) == 5 and all(r.get("lastEvaluation", "").startswith("2") for r in rules)

    wait_for(evaluated, "the alert rules to be evaluated")
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"][0]["rules"]
    assert all(r["health"] == "ok" for r in rules), rules
    state = {r["name"]: r["state"] for r in rules}
    healthy = ("MoodtuneDown", "MoodtuneNotReady", "MoodtuneDatabaseUnavailable")
    assert all(state[name] == "inactive" for name in healthy), state
