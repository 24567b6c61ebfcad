"""Payments and membership: payments, memberships, processed provider events, jobs.running_cap.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.user_id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("checkout_ref", sa.String(255), nullable=True),
        sa.Column("invoice_ref", sa.String(255), nullable=True),
        sa.Column("intent_ref", sa.String(255), nullable=True),
        sa.Column("charge_ref", sa.String(255), nullable=True),
        sa.Column("refunded_cents", sa.Integer(), nullable=False),
        sa.Column("credits_reversed", sa.Integer(), nullable=False),
        sa.Column("shortfall", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("payment_id", name="pk_payments"),
        _user_fk("payments"),
        sa.CheckConstraint(
            "state IN ('pending', 'paid', 'canceled', 'refunded')", name="ck_payments_state"
        ),
        sa.CheckConstraint("kind IN ('pack', 'membership')", name="ck_payments_kind"),
        sa.CheckConstraint("credits >= 0 AND amount_cents >= 0", name="ck_payments_amounts"),
        sa.UniqueConstraint("invoice_ref", name="uq_payments_invoice_ref"),
        sa.UniqueConstraint("checkout_ref", name="uq_payments_checkout_ref"),
    )
    op.create_index("ix_payments_user_created", "payments", ["user_id", "created_at", "payment_id"])
    op.create_index("ix_payments_created", "payments", ["created_at", "payment_id"])
    op.create_index("ix_payments_charge_ref", "payments", ["charge_ref"])
    op.create_index("ix_payments_intent_ref", "payments", ["intent_ref"])
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("subscription_ref", sa.String(255), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_memberships"),
        _user_fk("memberships"),
        sa.CheckConstraint("state IN ('active', 'canceled')", name="ck_memberships_state"),
        sa.UniqueConstraint("subscription_ref", name="uq_memberships_subscription_ref"),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_events"),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("running_cap", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("running_cap")
    op.drop_table("processed_events")
    op.drop_table("memberships")
    op.drop_index("ix_payments_intent_ref", table_name="payments")
    op.drop_index("ix_payments_charge_ref", table_name="payments")
    op.drop_index("ix_payments_created", table_name="payments")
    op.drop_index("ix_payments_user_created", table_name="payments")
    op.drop_table("payments")
