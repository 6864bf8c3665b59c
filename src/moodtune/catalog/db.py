"""Engines and sessions for SQLite and PostgreSQL, migrations via Alembic, and the server's
view of whether the database is reachable."""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from moodtune.errors import Unavailable

__all__ = [
    "OUTAGE_ERRORS",
    "DatabaseHealth",
    "is_outage",
    "create_db_engine",
    "downgrade",
    "make_session_factory",
    "migrate",
    "session_scope",
]

log = logging.getLogger(__name__)

#: Seconds PostgreSQL gets to accept a connection (libpq's minimum is 2).
CONNECT_TIMEOUT_S = 2
#: Errors that mean "the database is not answering" rather than "this query is wrong":
#: refused or timed-out connections, a server shutting down, a connection lost mid-query, a
#: pool with no free connection, SQLite's locked or unreadable file.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (OperationalError, PoolTimeout)


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas SQLite needs to behave like a server database.

    SQLite gets foreign keys on (off by default), WAL so a CLI import and a running server do
    not block each other's reads, and a busy timeout instead of instant "database is locked".
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args = (
            {"connect_timeout": CONNECT_TIMEOUT_S} if "psycopg" in parsed.drivername else {}
        )
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def migrate(engine: Engine, revision: str = "head") -> str:
    """Upgrade the schema to ``revision``; returns the revision now current."""
    return _alembic(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> str:
    """Downgrade the schema to ``revision`` (``base`` drops every table)."""
    return _alembic(engine, "downgrade", revision)


def _alembic(engine: Engine, direction: str, revision: str) -> str:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", "moodtune.catalog:migrations")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, direction)(config, revision)
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() or "base"


def is_outage(exc: BaseException) -> bool:
    """True for errors of reaching the database, also those the driver flags as a lost
    connection under another class (e.g. InterfaceError "connection already closed")."""
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class DatabaseHealth:
    """A circuit breaker: after one failed request every request that needs the database gets
    503 at once (no connect attempt, no traceback), while one background probe retries every
    ``probe_s`` seconds. One warning when the outage starts, one when it ends."""

    def __init__(self, engine: Engine, *, probe_s: float = 0.5) -> None:
        self.engine = engine
        self.probe_s = probe_s
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._reason = ""
        self._stop = threading.Event()

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def check(self) -> None:
        """Raise Unavailable while the database is known to be down."""
        if self._down_since is not None:
            raise Unavailable(
                "the database is unreachable; try again shortly",
                reason=self._reason,
                down_for_s=round(time.monotonic() - self._down_since, 1),
            )

    def failed(self, exc: BaseException) -> None:
        """Record an outage seen by a request; starts the probe on the first one."""
        with self._lock:
            if self._down_since is not None or self._stop.is_set():
                return
            self._down_since = time.monotonic()
            self._reason = type(getattr(exc, "orig", None) or exc).__name__
        log.warning(
            "database unreachable (%s: %s); answering 503 until it is back",
            self._reason,
            str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200],
        )
        threading.Thread(target=self._probe_until_back, name="db-probe", daemon=True).start()

    def close(self) -> None:
        self._stop.set()

    def _probe_until_back(self) -> None:
        while not self._stop.wait(self.probe_s):
            try:
                with self.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except Exception:  # still down: try again after probe_s
                continue
            with self._lock:
                down_for = time.monotonic() - (self._down_since or time.monotonic())
                self._down_since = None
            log.warning("database reachable again after %.1f s", down_for)
            return
