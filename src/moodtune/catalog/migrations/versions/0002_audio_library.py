"""audio library: file reference, content hash, embeddings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audio_path", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("audio_mime", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("file_size", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("file_mtime", sa.Float(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_tracks_content_hash"), ["content_hash"])

    op.create_table(
        "track_embeddings",
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("style", sa.JSON(), nullable=False),
        sa.Column("quadrant", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_track_embeddings_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_track_embeddings")),
    )


def downgrade() -> None:
    op.drop_table("track_embeddings")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_tracks_content_hash"), type_="unique")
        batch_op.drop_column("file_mtime")
        batch_op.drop_column("file_size")
        batch_op.drop_column("content_hash")
        batch_op.drop_column("audio_mime")
        batch_op.drop_column("audio_path")
