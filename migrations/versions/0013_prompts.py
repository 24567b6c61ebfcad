"""Prompt library: templates, versions, tags, favorites; named job batches.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def _prompt_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["prompt_id"],
        ["prompt_templates.prompt_id"],
        name=f"fk_{table}_prompt_id_prompts",
        ondelete="CASCADE",
    )


def _templates() -> None:
    op.create_table(
        "prompt_templates",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("official", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _counter("usage_count"),
        _counter("favorite_count"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("touched_at", TS, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("prompt_id", name="pk_prompt_templates"),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.user_id"],
            name="fk_prompt_templates_author_id_users",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'private')", name="ck_prompt_templates_visibility"
        ),
    )
    for name, columns in (
        ("ix_prompt_templates_visible_created", ["visibility", "created_at", "prompt_id"]),
        ("ix_prompt_templates_visible_usage", ["visibility", "usage_count", "prompt_id"]),
        ("ix_prompt_templates_author_created", ["author_id", "created_at", "prompt_id"]),
        ("ix_prompt_templates_category_created", ["category", "created_at", "prompt_id"]),
        ("ix_prompt_templates_touched", ["touched_at"]),
    ):
        op.create_index(name, "prompt_templates", columns)


def _versions() -> None:
    op.create_table(
        "prompt_versions",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("editor_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "version", name="pk_prompt_versions"),
        _prompt_fk("prompt_versions"),
        sa.ForeignKeyConstraint(
            ["editor_id"],
            ["users.user_id"],
            name="fk_prompt_versions_editor_id_users",
            ondelete="SET NULL",
        ),
    )


def _tags_and_favorites() -> None:
    op.create_table(
        "prompt_tags",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "tag", name="pk_prompt_tags"),
        _prompt_fk("prompt_tags"),
    )
    op.create_index("ix_prompt_tags_tag", "prompt_tags", ["tag", "prompt_id"])
    op.create_table(
        "prompt_favorites",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "prompt_id", name="pk_prompt_favorites"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_prompt_favorites_user_id_users",
            ondelete="CASCADE",
        ),
        _prompt_fk("prompt_favorites"),
    )
    op.create_index(
        "ix_prompt_favorites_user_created",
        "prompt_favorites",
        ["user_id", "created_at", "prompt_id"],
    )
    op.create_index("ix_prompt_favorites_prompt", "prompt_favorites", ["prompt_id"])


def _job_batches() -> None:
    op.create_table(
        "job_batches",
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("job_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("canceled_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("batch_id", name="pk_job_batches"),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.user_id"],
            name="fk_job_batches_owner_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_job_batches_owner_created", "job_batches", ["owner_id", "created_at", "batch_id"]
    )


def upgrade() -> None:
    _templates()
    _versions()
    _tags_and_favorites()
    _job_batches()


def downgrade() -> None:
    op.drop_index("ix_job_batches_owner_created", table_name="job_batches")
    op.drop_table("job_batches")
    op.drop_index("ix_prompt_favorites_prompt", table_name="prompt_favorites")
    op.drop_index("ix_prompt_favorites_user_created", table_name="prompt_favorites")
    op.drop_table("prompt_favorites")
    op.drop_index("ix_prompt_tags_tag", table_name="prompt_tags")
    op.drop_table("prompt_tags")
    op.drop_table("prompt_versions")
    for index in (
        "ix_prompt_templates_touched",
        "ix_prompt_templates_category_created",
        "ix_prompt_templates_author_created",
        "ix_prompt_templates_visible_usage",
        "ix_prompt_templates_visible_created",
    ):
        op.drop_index(index, table_name="prompt_templates")
    op.drop_table("prompt_templates")
