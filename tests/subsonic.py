"""A real Subsonic server for tests: Supysonic from PyPI (../shared/notes/real-servers.md),
in a virtual environment of its own (it brings Flask and peewee, which moodtune does not need),
made once per machine and cached under ~/.cache/moodtune-tests."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import httpx2 as httpx

from tests.required import unavailable

SUPYSONIC = "supysonic==0.7.9"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "moodtune-tests"
USER, PASSWORD = "alice", "s3cret-pass"


def subsonic_unavailable(reason: str) -> NoReturn:
    unavailable("the Subsonic server", "MOODTUNE_REQUIRE_SUBSONIC", reason)


def supysonic_venv() -> Path:
    venv = CACHE / SUPYSONIC.replace("==", "-")
    if (venv / "bin" / "supysonic-server").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", SUPYSONIC, "waitress"],
        capture_output=True,
        text=True,
    )
    if install.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        subsonic_unavailable(f"pip could not install {SUPYSONIC}: {install.stderr[-500:]}")
    return venv


class SupysonicServer:
    """One server with one user and one music folder, on a free port of 127.0.0.1."""

    def __init__(self, root: Path, music: Path) -> None:
        self.venv = supysonic_venv()
        self.root, self.music = root, music
        root.mkdir(parents=True, exist_ok=True)
        (root / "supysonic.conf").write_text(
            f"[base]\ndatabase_uri = sqlite:///{root}/supysonic.db\n"
            f"[webapp]\ncache_dir = {root}/cache\nlog_file = {root}/supysonic.log\n"
            f"[daemon]\nsocket = {root}/daemon.sock\n"
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.cli("user", "add", USER, "-p", PASSWORD)
        self.cli("folder", "add", "lib", str(music))
        self.rescan()

    def cli(self, *args: str) -> str:
        """supysonic-cli reads ./supysonic.conf: run it from the server's folder."""
        run = subprocess.run(
            [str(self.venv / "bin" / "supysonic-cli"), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    def rescan(self) -> str:
        return self.cli("folder", "scan", "lib")

    def start(self) -> "SupysonicServer":
        self.process = subprocess.Popen(
            [str(self.venv / "bin" / "supysonic-server"), "-S", "waitress",
             "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                ping = httpx.get(
                    f"{self.url}/rest/ping.view",
                    params={"u": USER, "p": PASSWORD, "v": "1.12.0", "c": "t", "f": "json"},
                    timeout=2,
                )
                if ping.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, "supysonic-server exited"
            assert time.monotonic() < deadline, "supysonic-server did not answer in 60 s"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None
