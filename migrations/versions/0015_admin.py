"""Admin: run-time site settings and per-model access by role.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "site_settings",
        sa.Column("site_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("announcement", sa.String(500), nullable=False),
        sa.Column("signups_open", sa.Boolean(), nullable=False),
        sa.Column("pre_review_new_accounts", sa.Boolean(), nullable=False),
        sa.Column("max_concurrent_jobs_per_user", sa.Integer(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("site_id", name="pk_site_settings"),
    )
    op.create_table(
        "model_access",
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("min_role", sa.String(16), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "min_role IN ('user', 'moderator', 'admin')", name="ck_model_access_min_role"
        ),
        sa.PrimaryKeyConstraint("model_id", name="pk_model_access"),
    )


def downgrade() -> None:
    op.drop_table("model_access")
    op.drop_table("site_settings")
