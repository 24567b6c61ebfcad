"""Storage: the image library and user uploads.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _owner_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["owner_id"], ["users.user_id"], name=f"fk_{table}_owner_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("room_id", sa.String(128), nullable=True),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("thumb_key", sa.String(512), nullable=False),
        sa.Column("square_key", sa.String(512), nullable=False),
        sa.Column("mime", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(24), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("image_id", name="pk_images"),
        _owner_fk("images"),
        sa.CheckConstraint('"index" >= 0', name="ck_images_index_nonneg"),
    )
    op.create_index("ix_images_owner_created", "images", ["owner_id", "created_at", "image_id"])
    op.create_index("ix_images_job_index", "images", ["job_id", "index"])
    op.create_index("ix_images_deleted", "images", ["deleted_at"])

    op.create_table(
        "uploads",
        sa.Column("upload_id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("mime", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("upload_id", name="pk_uploads"),
        _owner_fk("uploads"),
        sa.CheckConstraint("purpose IN ('source', 'avatar')", name="ck_uploads_purpose"),
    )
    op.create_index("ix_uploads_owner_created", "uploads", ["owner_id", "created_at", "upload_id"])
    op.create_index("ix_uploads_owner_purpose", "uploads", ["owner_id", "purpose"])


def downgrade() -> None:
    op.drop_index("ix_uploads_owner_purpose", table_name="uploads")
    op.drop_index("ix_uploads_owner_created", table_name="uploads")
    op.drop_table("uploads")
    op.drop_index("ix_images_deleted", table_name="images")
    op.drop_index("ix_images_job_index", table_name="images")
    op.drop_index("ix_images_owner_created", table_name="images")
    op.drop_table("images")
