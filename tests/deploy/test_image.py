"""The Docker image, built for real from a Debian base made here (``deploy/base-image.sh``:
debootstrap + ``docker import``, no registry needed): it starts, becomes ready and healthy,
answers a photo with a playlist, and runs as a user without privileges.
``make test-deploy`` runs these."""

import json
import logging
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import httpx2 as httpx
import pytest

from tests.processes import free_port, wait_for
from tests.required import unavailable

pytestmark = pytest.mark.deploy
log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
BASE = "moodtune-base:bookworm"
FIXTURES = REPO / "tests" / "fixtures"


def _docker_unavailable(reason: str) -> NoReturn:
    unavailable("Docker", "MOODTUNE_REQUIRE_DOCKER", reason)


def _docker(*args: str, timeout: float = 900) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def image() -> Iterator[dict[str, float | str]]:
    """The base (made once per machine), the wheels from this checkout, then the image."""
    if shutil.which("docker") is None:
        _docker_unavailable("the docker command is missing (apt-get install docker.io)")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        _docker_unavailable("the Docker daemon does not answer (start dockerd as root)")
    timings: dict[str, float | str] = {}
    if subprocess.run(["docker", "image", "inspect", BASE], capture_output=True).returncode:
        if shutil.which("debootstrap") is None:
            _docker_unavailable("debootstrap is missing, so the base image cannot be made")
        started = time.perf_counter()
        subprocess.run([str(REPO / "deploy" / "base-image.sh"), BASE], check=True, timeout=900)
        timings["base_image_s"] = round(time.perf_counter() - started, 1)
    wheelhouse = REPO / "deploy" / "wheelhouse"
    for old in wheelhouse.glob("*.whl"):
        old.unlink()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheelhouse),
         f"{REPO}[s3]"],
        check=True, timeout=900,
    )  # fmt: skip
    timings["wheels_s"] = round(time.perf_counter() - started, 1)
    tag = f"moodtune:test-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    _docker("build", "--network", "host", "--quiet", "--file", str(REPO / "deploy" / "Dockerfile"),
            "--build-arg", f"BASE={BASE}", "--tag", tag, str(REPO))  # fmt: skip
    timings["build_s"] = round(time.perf_counter() - started, 1)
    timings["tag"] = tag
    try:
        yield timings
    finally:
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True)
        for wheel in wheelhouse.glob("*.whl"):
            wheel.unlink()


def test_the_image_serves_a_photo_playlist_as_a_user_without_privileges(
    image: dict[str, float | str],
) -> None:
    tag = str(image["tag"])
    inspected = json.loads(_docker("image", "inspect", tag))[0]
    size_mb = inspected["Size"] / 2**20
    assert inspected["Config"]["User"] == "moodtune"
    assert size_mb < 1200, f"the image grew to {size_mb:.0f} MB"
    assert "healthz" in " ".join(inspected["Config"]["Healthcheck"]["Test"])

    port = free_port()
    name = f"moodtune-test-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    _docker("run", "--detach", "--name", name, "--network", "host", "--env", f"PORT={port}",
            "--health-interval", "2s", "--health-start-period", "300s", tag)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            state = json.loads(_docker("inspect", name))[0]["State"]
            assert state["Running"], _docker("logs", name)
            try:
                return httpx.get(f"{url}/api/v1/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, "the container to be ready", timeout_s=600)
        start_s = time.perf_counter() - started
        photo = (FIXTURES / "astronaut.jpg").read_bytes()
        answer = httpx.post(
            f"{url}/api/v1/mood-playlist", files={"image": ("a.jpg", photo)}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["tracks"]) == 10 and answer.json()["photo"]["faces"]
        assert _docker("exec", name, "id", "-u").strip() == "10001"
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert "moodtune_library_tracks 14.0" in metrics, "the demo music was analysed"
        wait_for(
            lambda: (
                json.loads(_docker("inspect", name))[0]["State"]["Health"]["Status"] == "healthy"
            ),
            "the health check to pass",
        )
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
    figures = {**image, "image_mb": round(size_mb), "start_to_ready_s": round(start_s, 1)}
    log.info("image: %s", json.dumps(figures))  # shown with -o log_cli=true
