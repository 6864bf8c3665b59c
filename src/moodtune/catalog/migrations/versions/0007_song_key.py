"""song key per track: the same song under any release, stored so that building the ranking
matrix needs no string work per row; an index on the track source (library size in /metrics)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("song_key", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tracks_source"), ["source"], unique=False)
    _fill_song_keys()


def _fill_song_keys() -> None:
    from moodtune.recommend.rank import track_song_key  # pure string rules

    bind = op.get_bind()
    tracks = sa.table("tracks", sa.column("id", sa.Integer), sa.column("title", sa.Text),
                      sa.column("artists", sa.JSON), sa.column("song_key", sa.Text))  # fmt: skip
    rows = bind.execute(sa.select(tracks.c.id, tracks.c.title, tracks.c.artists)).all()
    update = (
        tracks.update()
        .where(tracks.c.id == sa.bindparam("row_id"))
        .values(song_key=sa.bindparam("key"))
    )
    for start in range(0, len(rows), _BATCH):
        keys = [{"row_id": r.id, "key": track_song_key(r.title or "", r.artists or [])}
                for r in rows[start : start + _BATCH]]  # fmt: skip
        bind.execute(update, keys)


def downgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_source"))
        batch_op.drop_column("song_key")
