from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog.db import downgrade, migrate


def test_upgrade_creates_every_table(session_factory: sessionmaker[Session]) -> None:
    tables = set(inspect(session_factory.kw["bind"]).get_table_names())
    assert {
        "tracks",
        "genres",
        "track_genres",
        "listeners",
        "feedback_events",
        "playlists",
        "playlist_items",
    } <= tables


def test_downgrade_to_base_and_upgrade_again(session_factory: sessionmaker[Session]) -> None:
    engine = session_factory.kw["bind"]
    assert downgrade(engine, "base") == "base"
    assert "tracks" not in inspect(engine).get_table_names()
    assert migrate(engine, "head") == "0001"
    assert migrate(engine, "head") == "0001"  # idempotent
