"""A throwaway PostgreSQL server of its own (see ../shared/notes/ci-postgres.md): the test
session's shared server, and servers that a test stops and starts again (outages)."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from typing import NoReturn

from sqlalchemy import create_engine, text

from moodtune.catalog.db import create_db_engine, migrate
from tests.required import unavailable


def postgres_unavailable(reason: str) -> NoReturn:
    unavailable(
        "PostgreSQL", "MOODTUNE_REQUIRE_POSTGRES", f"{reason}; install the postgresql package"
    )


class ClusterUnavailable(Exception):
    """PostgreSQL cannot be run here; the message says why."""


class PostgresCluster:
    """``initdb`` + ``pg_ctl`` on a free port in a temporary folder, fsync off."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not bins:
            raise ClusterUnavailable("no server binaries under /usr/lib/postgresql")
        self.bindir = bins[-1]
        self.prefix = self._run_as_postgres()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = tempfile.mkdtemp(prefix="moodtune-pg-")
        self.data = f"{self.base}/data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    @staticmethod
    def _run_as_postgres() -> list[str]:
        if os.geteuid() != 0:
            return []
        user = os.environ.get("PG_TEST_OS_USER", "postgres")  # initdb refuses to run as root
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise ClusterUnavailable(f"running as root and there is no {user!r} user") from None
        # runuser lives in /usr/sbin, which a minimal PATH (cron, env -i) leaves out
        candidates = (shutil.which("runuser"), "/usr/sbin/runuser", "/sbin/runuser")
        runuser = next((p for p in candidates if p and os.path.exists(p)), None)
        if runuser is None:
            raise ClusterUnavailable("running as root and runuser is not installed")
        return [runuser, "-u", user, "--"]

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            self.prefix + list(args),
            check=check,
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )

    def start(self) -> "PostgresCluster":
        """initdb on first use, then start and wait until it accepts connections."""
        try:
            if not os.path.exists(self.data):
                if self.prefix:
                    entry = pwd.getpwnam(self.prefix[2])
                    os.chown(self.base, entry.pw_uid, entry.pw_gid)
                self._run(
                    f"{self.bindir}/initdb",
                    "-D",
                    self.data,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                )
            options = (
                f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            self._run(
                f"{self.bindir}/pg_ctl",
                "-D",
                self.data,
                "-l",
                f"{self.base}/log",
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            )
        except subprocess.CalledProcessError as exc:
            raise ClusterUnavailable(
                f"the server did not start: {exc.stderr.decode(errors='replace')[-300:]}"
            ) from exc
        except OSError as exc:
            raise ClusterUnavailable(f"the server could not be started: {exc}") from exc
        return self

    def create_database(self, name: str) -> str:
        """A new database on this server with moodtune's schema; returns its URL."""
        admin = create_engine(f"{self.url}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        engine = create_db_engine(f"{self.url}/{name}")
        migrate(engine)
        engine.dispose()
        return f"{self.url}/{name}"

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects clients (a server shutting down); ``immediate`` just dies."""
        self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)
