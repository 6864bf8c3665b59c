from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog.db import downgrade, migrate
from moodtune.catalog.models import Base


def test_upgrade_creates_every_table(session_factory: sessionmaker[Session]) -> None:
    tables = set(inspect(session_factory.kw["bind"]).get_table_names())
    assert {
        "tracks",
        "genres",
        "track_genres",
        "track_embeddings",
        "listeners",
        "feedback_events",
        "playlists",
        "playlist_items",
    } <= tables


def test_migrations_match_the_models(session_factory: sessionmaker[Session]) -> None:
    with session_factory.kw["bind"].connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(session_factory: sessionmaker[Session]) -> None:
    engine = session_factory.kw["bind"]
    assert downgrade(engine, "0001") == "0001"
    assert "track_embeddings" not in inspect(engine).get_table_names()
    assert downgrade(engine, "base") == "base"
    assert "tracks" not in inspect(engine).get_table_names()
    assert migrate(engine, "head") == "0003"
    assert migrate(engine, "head") == "0003"  # idempotent
