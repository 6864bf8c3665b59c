"""The Docker image, built for real from the Debian base made here (see conftest.py): it starts,
becomes ready and healthy, answers a photo with a playlist, and runs as a user without
privileges.
``make test-deploy`` runs these."""

import json
import logging
import subprocess
import time
import uuid
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.deploy.containers import docker
from tests.processes import free_port, wait_for

pytestmark = pytest.mark.deploy
log = logging.getLogger(__name__)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_the_image_serves_a_photo_playlist_as_a_user_without_privileges(
    image: dict[str, float | str],
) -> None:
    tag = str(image["tag"])
    inspected = json.loads(docker("image", "inspect", tag))[0]
    size_mb = inspected["Size"] / 2**20
    assert inspected["Config"]["User"] == "moodtune"
    assert size_mb < 1200, f"the image grew to {size_mb:.0f} MB"
    assert "healthz" in " ".join(inspected["Config"]["Healthcheck"]["Test"])

    port = free_port()
    name = f"moodtune-test-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    docker("run", "--detach", "--name", name, "--network", "host", "--env", f"PORT={port}",
            "--health-interval", "2s", "--health-start-period", "300s", tag)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            state = json.loads(docker("inspect", name))[0]["State"]
            assert state["Running"], docker("logs", name)
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
        assert docker("exec", name, "id", "-u").strip() == "10001"
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert "moodtune_library_tracks 14.0" in metrics, "the demo music was analysed"
        wait_for(
            lambda: (
                json.loads(docker("inspect", name))[0]["State"]["Health"]["Status"] == "healthy"
            ),
            "the health check to pass",
        )
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
    figures = {**image, "image_mb": round(size_mb), "start_to_ready_s": round(start_s, 1)}
    log.info("image: %s", json.dumps(figures))  # shown with -o log_cli=true
