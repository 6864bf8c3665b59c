"""Engines and sessions for SQLite and PostgreSQL, and migrations via Alembic."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["create_db_engine", "downgrade", "make_session_factory", "migrate", "session_scope"]


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas SQLite needs to behave like a server database.

    SQLite gets foreign keys on (off by default), WAL so a CLI import and a running server do
    not block each other's reads, and a busy timeout instead of instant "database is locked".
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
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
