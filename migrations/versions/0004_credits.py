"""Credits: wallets and the ledger.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTLEMENT_WHERE = "kind IN ('charge', 'refund')"


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_wallets"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_wallets_user_id_users", ondelete="CASCADE"
        ),
        sa.CheckConstraint("balance >= 0", name="ck_wallets_balance_nonneg"),
        sa.CheckConstraint("reserved >= 0", name="ck_wallets_reserved_nonneg"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column(
            "entry_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("reserved_after", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("memo", sa.String(500), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name="pk_ledger_entries"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_ledger_entries_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.user_id"],
            name="fk_ledger_entries_actor_id_users",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_ledger_entries_idempotency_key"),
        sa.CheckConstraint(
            "kind IN ('grant', 'purchase', 'reserve', 'charge', 'refund', 'adjust')",
            name="ck_ledger_entries_kind",
        ),
    )
    op.create_index(
        "ix_ledger_entries_user_created",
        "ledger_entries",
        ["user_id", "created_at", "entry_id"],
    )
    op.create_index(
        "uq_ledger_entries_settlement",
        "ledger_entries",
        ["job_id"],
        unique=True,
        sqlite_where=sa.text(SETTLEMENT_WHERE),
        postgresql_where=sa.text(SETTLEMENT_WHERE),
    )


def downgrade() -> None:
    op.drop_index("uq_ledger_entries_settlement", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_user_created", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("wallets")
