"""The docker command for the deploy tests."""

import subprocess
from typing import NoReturn

from tests.required import unavailable


def docker_unavailable(reason: str) -> NoReturn:
    unavailable("Docker", "MOODTUNE_REQUIRE_DOCKER", reason)


def docker(*args: str, timeout: float = 900) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout
