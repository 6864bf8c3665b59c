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
    assert migrate(engine, "head") == "0007"
    assert migrate(engine, "head") == "0007"  # idempotent


def test_upgrading_flags_catalog_rows_already_imported(
    session_factory: sessionmaker[Session],
) -> None:
    """An install from before the non-music flags gets its catalog flagged by the migration."""
    from sqlalchemy import text

    engine = session_factory.kw["bind"]
    assert downgrade(engine, "0002") == "0002"
    with engine.begin() as connection:
        insert = text(
            "INSERT INTO tracks (spotify_id, source, title, artists, search_text, tempo, "
            "speechiness, created_at, updated_at) VALUES (:sid, 'catalog', :title, :artists, "
            ":title, :tempo, 0.05, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        connection.execute(
            insert,
            {"sid": "a" * 22, "title": "Pink Noise for Sleep", "tempo": 0, "artists": '["A"]'},
        )
        connection.execute(
            insert, {"sid": "b" * 22, "title": "Rain", "tempo": 120, "artists": '["B"]'}
        )
    assert migrate(engine, "head") == "0007"
    with engine.connect() as connection:
        flags = dict(connection.execute(text("SELECT title, non_music FROM tracks")).all())
    assert flags == {"Pink Noise for Sleep": "noise recording", "Rain": None}


def test_upgrading_stores_the_song_key_of_tracks_already_imported(
    session_factory: sessionmaker[Session],
) -> None:
    from sqlalchemy import text

    from moodtune.recommend.rank import track_song_key

    engine = session_factory.kw["bind"]
    assert downgrade(engine, "0006") == "0006"
    rows = [("Yesterday - Remastered 2009", '["The Beatles"]'), ("Untitled", "[]")]
    with engine.begin() as connection:
        for i, (title, artists) in enumerate(rows):
            connection.execute(
                text(
                    "INSERT INTO tracks (spotify_id, source, title, artists, search_text, "
                    "created_at, updated_at) VALUES (:sid, 'catalog', :title, :artists, :title, "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"sid": str(i) * 22, "title": title, "artists": artists},
            )
    assert migrate(engine, "head") == "0007"
    with engine.connect() as connection:
        keys = dict(connection.execute(text("SELECT title, song_key FROM tracks")).all())
    assert keys == {
        "Yesterday - Remastered 2009": track_song_key("Yesterday", ["The Beatles"]),
        "Untitled": track_song_key("Untitled", []),
    }
    assert keys["Yesterday - Remastered 2009"] == "beatles\x1fyesterday"
