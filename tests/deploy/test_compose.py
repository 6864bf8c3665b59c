"""``deploy/compose.yaml`` up for real: PostgreSQL, S3, the one-shot init, two replicas behind
nginx, and Prometheus. Official images cannot be pulled here, so the stack runs stand-ins built
from Debian packages through its ``*_IMAGE`` variables (``standins/README.md``); moodtune's own
image is built from this checkout. Grafana is not started (no Debian package, no registry).

What is checked: the init migrates, creates the bucket and publishes the snapshot, which both
replicas fetch from S3; a playlist saved through one replica is read through the other; a
replica killed with SIGKILL is restarted by Docker and rejoins, while the proxy keeps answering;
Prometheus scrapes both replicas with the shipped rules loaded."""

import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import yaml

from tests.deploy.containers import docker, docker_unavailable
from tests.processes import free_port, wait_for

pytestmark = pytest.mark.deploy
log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
FIXTURES = REPO / "tests" / "fixtures"
FILES = [DEPLOY / "compose.yaml", Path(__file__).with_name("compose.ports.yaml")]


def _compose_command() -> list[str]:
    """Compose v2 (``docker compose``) where installed, else Debian's ``docker-compose``."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker_unavailable("neither `docker compose` nor docker-compose is installed")


@dataclass
class Stack:
    command: list[str]
    env_file: Path
    proxy: str
    prometheus: str

    def compose(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run(
            [*self.command, "--env-file", str(self.env_file), *args],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, f"compose {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def container(self, service: str) -> dict[str, Any]:
        (ident,) = self.compose("ps", "-q", service).split()
        return json.loads(docker("inspect", ident))[0]  # type: ignore[no-any-return]

    def replica(self, service: str) -> str:
        address = self.compose("port", service, "8000").strip()
        return f"http://{address}"


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def stack(image: dict[str, float | str], standin_images: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:  # fmt: skip
    project = f"moodtune-test-{uuid.uuid4().hex[:8]}"
    command = _compose_command()
    for path in FILES:
        command += ["--file", str(path)]
    command += ["--project-name", project]
    ports = {name: free_port() for name in ("MOODTUNE_PORT", "S3_PORT", "PROMETHEUS_PORT")}
    settings = {
        "POSTGRES_PASSWORD": secrets.token_urlsafe(12),
        "S3_ACCESS_KEY": "moodtune",
        "S3_SECRET_KEY": secrets.token_urlsafe(12),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "MOODTUNE_IMAGE": str(image["tag"]),
        "MOODTUNE_S3_PUBLIC_URL": f"http://127.0.0.1:{ports['S3_PORT']}",
        "MOODTUNE_CATALOG_REFRESH_S": "2",
        **standin_images,
        **{name: str(port) for name, port in ports.items()},
    }
    env_file = tmp_path_factory.mktemp("compose") / "stack.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    stack = Stack(command, env_file, f"http://127.0.0.1:{ports['MOODTUNE_PORT']}",
                  f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}")  # fmt: skip
    started = time.perf_counter()
    try:
        stack.compose("up", "--detach", "proxy", "prometheus")
        wait_for(lambda: _ready(stack.proxy), "the stack to answer", timeout_s=600)
        log.info("stack: ready %.0f s after `up`", time.perf_counter() - started)
        yield stack
    finally:
        # the containers' last lines, shown by pytest when a test of this module failed
        log.info("%s", stack.compose("logs", "--no-color", "--tail", "40", timeout=120)[-20000:])
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=300)


def test_the_config_resolves_with_every_service(stack: Stack) -> None:
    config = stack.compose("config")
    for service in ("postgres", "s3", "init", "moodtune-1", "moodtune-2", "proxy", "prometheus",
                    "grafana"):  # fmt: skip
        assert f"  {service}:" in config
    assert "change-me" not in config, "no secret comes from anywhere but the env file"


def test_the_init_ran_once_and_both_replicas_map_its_snapshot_from_s3(stack: Stack) -> None:
    init = stack.container("init")["State"]
    assert init["Status"] == "exited" and init["ExitCode"] == 0
    keys = set()
    for service in ("moodtune-1", "moodtune-2"):
        ready = httpx.get(f"{stack.replica(service)}/api/v1/readyz", timeout=10).json()
        assert ready["snapshot"]["origin"] == "fetched", ready  # published by the init, via S3
        keys.add(ready["snapshot"]["key"])
        assert stack.container(service)["Config"]["User"] == "moodtune"
        logs = stack.compose("logs", "--no-color", service)
        assert "MB kept in memory" in logs  # all of it, or what the container's limit allows
    assert len(keys) == 1
    memory = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}",
                    *(stack.container(s)["Id"] for s in ("moodtune-1", "moodtune-2")))  # fmt: skip
    log.info("replica memory: %s", memory.strip().replace("\n", "; "))


def _saved_through_one_replica(stack: Stack, client: httpx.Client) -> dict[str, Any]:
    photo = (FIXTURES / "astronaut.jpg").read_bytes()
    first = stack.replica("moodtune-1")
    mood = client.post(f"{first}/api/v1/mood-playlist", files={"image": ("a.jpg", photo)})
    assert mood.status_code == 200, mood.text
    tracks = [{"track_id": t["id"]} for t in mood.json()["tracks"]]
    saved = client.post(f"{first}/api/v1/playlists", json={"name": "stack", "tracks": tracks})
    assert saved.status_code == 201, saved.text
    return saved.json()  # type: ignore[no-any-return]


def test_a_replica_reads_what_the_other_wrote_and_rejoins_after_a_crash(stack: Stack) -> None:
    with httpx.Client(timeout=60) as client:
        saved = _saved_through_one_replica(stack, client)
        second = stack.replica("moodtune-2")
        read = client.get(f"{second}/api/v1/playlists/{saved['id']}")
        assert read.status_code == 200 and read.json() == saved

        container = stack.container("moodtune-2")
        restarts = container["RestartCount"]
        os.kill(container["State"]["Pid"], signal.SIGKILL)  # a crash, not a stop
        answers = [client.get(f"{stack.proxy}/api/v1/readyz").status_code for _ in range(20)]
        assert answers == [200] * 20, "the proxy answers from the other replica meanwhile"

        wait_for(lambda: stack.container("moodtune-2")["RestartCount"] > restarts,
                 "Docker to restart the killed replica", timeout_s=120)  # fmt: skip
        second = stack.replica("moodtune-2")  # the published port may change
        wait_for(lambda: _ready(second), "the restarted replica to be ready", timeout_s=300)
        again = client.get(f"{second}/api/v1/playlists/{saved['id']}")
        assert again.status_code == 200 and again.json() == saved


def test_prometheus_scrapes_both_replicas_with_the_shipped_rules(stack: Stack) -> None:
    def up() -> list[dict[str, Any]]:
        answer = httpx.get(f"{stack.prometheus}/api/v1/query", params={"query": "up"}, timeout=10)
        return answer.json()["data"]["result"]  # type: ignore[no-any-return]

    wait_for(lambda: sum(r["value"][1] == "1" for r in up()) == 2,
             "Prometheus to scrape both replicas", timeout_s=120)  # fmt: skip
    assert {r["metric"]["instance"] for r in up()} == {"moodtune-1:8000", "moodtune-2:8000"}
    rules = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    names = {rule["name"] for group in rules for rule in group["rules"]}
    assert {"MoodtuneDown", "MoodtuneNotReady", "MoodtuneDatabaseUnavailable"} <= names


def test_grafana_is_provisioned_with_the_stack_prometheus_and_the_dashboard() -> None:
    """Grafana does not run here (see the module's docstring), so its wiring is checked as
    files: the data source is the stack's Prometheus and the provider reads the mounted
    dashboard, whose queries test_monitoring.py runs against a live Prometheus."""
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    provisioning = DEPLOY / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["isDefault"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in services
    assert any(p.endswith(":9090") for p in services["prometheus"]["ports"])
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "moodtune.yml").read_text())[
        "providers"
    ]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    assert mounts["./grafana/moodtune.json"].startswith(provider["options"]["path"] + "/")
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert (DEPLOY / "grafana" / "moodtune.json").is_file()
