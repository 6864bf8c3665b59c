"""non-music flags: reason and music likelihood per track

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


def downgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_non_music"))
        batch_op.drop_column("music_likelihood")
        batch_op.drop_column("non_music")
