"""initial schema: tracks, genres, listeners, feedback, playlists

Revision ID: 0001
Revises:
Create Date: 2026-11-21 07:50:13.575401
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "genres",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_genres")),
        sa.UniqueConstraint("name", name=op.f("uq_genres_name")),
    )
    op.create_table(
        "listeners",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listeners")),
    )
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spotify_id", sa.String(length=22), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("artists", sa.JSON(), nullable=False),
        sa.Column("album", sa.Text(), nullable=True),
        sa.Column("release_date", sa.String(length=10), nullable=True),
        sa.Column("year", sa.SmallInteger(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("danceability", sa.Float(), nullable=True),
        sa.Column("energy", sa.Float(), nullable=True),
        sa.Column("valence", sa.Float(), nullable=True),
        sa.Column("acousticness", sa.Float(), nullable=True),
        sa.Column("instrumentalness", sa.Float(), nullable=True),
        sa.Column("speechiness", sa.Float(), nullable=True),
        sa.Column("liveness", sa.Float(), nullable=True),
        sa.Column("tempo", sa.Float(), nullable=True),
        sa.Column("loudness", sa.Float(), nullable=True),
        sa.Column("key", sa.SmallInteger(), nullable=True),
        sa.Column("mode", sa.SmallInteger(), nullable=True),
        sa.Column("time_signature", sa.SmallInteger(), nullable=True),
        sa.Column("popularity", sa.SmallInteger(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("explicit", sa.Boolean(), nullable=True),
        sa.Column("estimators", sa.JSON(), nullable=True),
        sa.Column("audio_key", sa.Text(), nullable=True),
        sa.Column("cover_key", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("key >= -1 AND key <= 11", name=op.f("ck_tracks_key_range")),
        sa.CheckConstraint("mode IN (0, 1)", name=op.f("ck_tracks_mode_binary")),
        sa.CheckConstraint(
            "popularity >= 0 AND popularity <= 100", name=op.f("ck_tracks_popularity_range")
        ),
        sa.CheckConstraint("tempo >= 0 AND tempo <= 300", name=op.f("ck_tracks_tempo_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracks")),
        sa.UniqueConstraint("spotify_id", name=op.f("uq_tracks_spotify_id")),
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracks_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "feedback_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("listener_id", sa.String(length=36), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("position_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('play', 'like', 'dislike', 'skip', 'complete')",
            name=op.f("ck_feedback_events_kind_known"),
        ),
        sa.CheckConstraint(
            "position_ms IS NULL OR position_ms >= 0",
            name=op.f("ck_feedback_events_position_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["listener_id"],
            ["listeners.id"],
            name=op.f("fk_feedback_events_listener_id_listeners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_feedback_events_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_events")),
    )
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_events_listener_created", ["listener_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_feedback_events_track_id"), ["track_id"], unique=False)

    op.create_table(
        "playlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listener_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["listener_id"],
            ["listeners.id"],
            name=op.f("fk_playlists_listener_id_listeners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlists")),
    )
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_playlists_listener_id"), ["listener_id"], unique=False)

    op.create_table(
        "track_genres",
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("genre_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["genre_id"],
            ["genres.id"],
            name=op.f("fk_track_genres_genre_id_genres"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_track_genres_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("track_id", "genre_id", name=op.f("pk_track_genres")),
    )
    with op.batch_alter_table("track_genres", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_genres_genre_id"), ["genre_id"], unique=False)

    op.create_table(
        "playlist_items",
        sa.Column("playlist_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_playlist_items_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_playlist_items_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("playlist_id", "position", name=op.f("pk_playlist_items")),
    )


def downgrade() -> None:
    op.drop_table("playlist_items")
    with op.batch_alter_table("track_genres", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_genres_genre_id"))

    op.drop_table("track_genres")
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playlists_listener_id"))

    op.drop_table("playlists")
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_events_track_id"))
        batch_op.drop_index("ix_feedback_events_listener_created")

    op.drop_table("feedback_events")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_updated_at"))

    op.drop_table("tracks")
    op.drop_table("listeners")
    op.drop_table("genres")
