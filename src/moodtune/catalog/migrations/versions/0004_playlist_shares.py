"""playlist shares: read-only links by token, revocable

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "playlist_shares",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("playlist_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_playlist_shares_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_playlist_shares")),
    )
    with op.batch_alter_table("playlist_shares", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_playlist_shares_playlist_id"), ["playlist_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("playlist_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playlist_shares_playlist_id"))
    op.drop_table("playlist_shares")
