"""Generation: jobs and queue control.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

INDEXES: list[tuple[str, list[str]]] = [
    ("ix_jobs_claim", ["state", "priority", "next_attempt_at"]),
    ("ix_jobs_user_state", ["user_id", "state"]),
    ("ix_jobs_user_claimed", ["user_id", "claimed_at"]),
    ("ix_jobs_lease", ["state", "locked_until"]),
    ("ix_jobs_owner_created", ["owner_id", "created_at", "job_id"]),
    ("ix_jobs_model_finished", ["model", "state", "finished_at"]),
    ("ix_jobs_state_finished", ["state", "finished_at"]),
    ("ix_jobs_batch", ["batch_id"]),
]


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.String(128), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("source_image_key", sa.String(512), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("locked_by", sa.String(64), nullable=True),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.String(1000), nullable=True),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("total_steps", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name="pk_jobs"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_jobs_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.user_id"], name="fk_jobs_owner_id_users", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')",
            name="ck_jobs_state",
        ),
        sa.CheckConstraint("kind IN ('text2img', 'img2img', 'batch-member')", name="ck_jobs_kind"),
        sa.CheckConstraint("cost >= 0", name="ck_jobs_cost_nonneg"),
    )
    for name, columns in INDEXES:
        op.create_index(name, "jobs", columns)
    queue_control = op.create_table(
        "queue_control",
        sa.Column("queue_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_at", TS, nullable=True),
        sa.Column("paused_by", sa.Integer(), nullable=True),
        sa.Column("claim_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("queue_id", name="pk_queue_control"),
        sa.ForeignKeyConstraint(
            ["paused_by"],
            ["users.user_id"],
            name="fk_queue_control_paused_by_users",
            ondelete="SET NULL",
        ),
    )
    op.bulk_insert(
        queue_control,
        [
            {
                "queue_id": 1,
                "paused": False,
                "claim_seq": 0,
                "updated_at": datetime.now(UTC),
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("queue_control")
    for name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name="jobs")
    op.drop_table("jobs")
