"""non-music flags: reason and music likelihood per track

Catalog rows already imported are flagged here by the same rules an import applies; library
files need their audio, so `moodtune library rescan` checks those.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("non_music", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("music_likelihood", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tracks_non_music"), ["non_music"], unique=False)
    _flag_catalog_rows()


def _flag_catalog_rows() -> None:
    from moodtune.nonmusic import catalog_reason  # pure rules, no models or settings

    bind = op.get_bind()
    tracks = sa.table(
        "tracks",
        sa.column("id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("title", sa.Text),
        sa.column("artists", sa.JSON),
        sa.column("album", sa.Text),
        sa.column("tempo", sa.Float),
        sa.column("speechiness", sa.Float),
        sa.column("non_music", sa.String),
    )
    genres = sa.table("genres", sa.column("id", sa.Integer), sa.column("name", sa.String))
    links = sa.table("track_genres", sa.column("track_id", sa.Integer),
                     sa.column("genre_id", sa.Integer))  # fmt: skip
    names: dict[int, list[str]] = {}
    query = sa.select(links.c.track_id, genres.c.name).join(genres, genres.c.id == links.c.genre_id)
    for track_id, name in bind.execute(query):
        names.setdefault(track_id, []).append(name)
    rows = bind.execute(sa.select(tracks).where(tracks.c.source != "library")).all()
    flags = [
        {"row_id": r.id, "reason": reason}
        for r in rows
        if (
            reason := catalog_reason(
                title=r.title or "",
                artists=r.artists or [],
                album=r.album,
                genres=names.get(r.id, []),
                tempo=r.tempo,
                speechiness=r.speechiness,
            )
        )
    ]
    if flags:
        bind.execute(
            tracks.update()
            .where(tracks.c.id == sa.bindparam("row_id"))
            .values(non_music=sa.bindparam("reason")),
            flags,
        )


def downgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_non_music"))
        batch_op.drop_column("music_likelihood")
        batch_op.drop_column("non_music")
