"""Works: images published (or drafted) with their prompt, parameters and history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "works",
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("room_id", sa.String(128), nullable=True),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("parent_work_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("prompt_history", sa.JSON(), nullable=False),
        sa.Column("cover_image_id", sa.String(36), nullable=True),
        _counter("like_count"),
        _counter("favorite_count"),
        _counter("comment_count"),
        _counter("view_count"),
        _counter("remix_count"),
        sa.Column("hot_score", sa.Float(), server_default="0", nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.Column("hidden_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("work_id", name="pk_works"),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.user_id"], name="fk_works_author_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_work_id"],
            ["works.work_id"],
            name="fk_works_parent_work_id_works",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("status IN ('draft', 'published')", name="ck_works_status"),
    )
    op.create_index("ix_works_status_published", "works", ["status", "published_at", "work_id"])
    op.create_index("ix_works_status_hot", "works", ["status", "hot_score", "work_id"])
    op.create_index(
        "ix_works_category_published", "works", ["category", "status", "published_at", "work_id"]
    )
    op.create_index(
        "ix_works_category_hot", "works", ["category", "status", "hot_score", "work_id"]
    )
    op.create_index(
        "ix_works_author_published", "works", ["author_id", "status", "published_at", "work_id"]
    )
    op.create_index("ix_works_parent", "works", ["parent_work_id"])

    op.create_table(
        "work_images",
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("work_id", "image_id", name="pk_work_images"),
        sa.ForeignKeyConstraint(
            ["work_id"], ["works.work_id"], name="fk_work_images_work_id_works", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.image_id"],
            name="fk_work_images_image_id_images",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "work_contributors",
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _counter("edits"),
        sa.PrimaryKeyConstraint("work_id", "user_id", name="pk_work_contributors"),
        sa.ForeignKeyConstraint(
            ["work_id"],
            ["works.work_id"],
            name="fk_work_contributors_work_id_works",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_work_contributors_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_work_contributors_user", "work_contributors", ["user_id", "work_id"])


def downgrade() -> None:
    op.drop_index("ix_work_contributors_user", table_name="work_contributors")
    op.drop_table("work_contributors")
    op.drop_table("work_images")
    for index in (
        "ix_works_parent",
        "ix_works_author_published",
        "ix_works_category_hot",
        "ix_works_category_published",
        "ix_works_status_hot",
        "ix_works_status_published",
    ):
        op.drop_index(index, table_name="works")
    op.drop_table("works")
