"""Tables of the credits domain: one wallet per user and the append-only ledger.

Two numbers per wallet: ``balance`` (spendable) and ``reserved`` (held for queued or running jobs).
Every change to either is one ledger row carrying both deltas, so the ledger explains the wallet
exactly (docs/credits.md, "Invariants"):

* ``amount`` is the change of the user's holdings ``balance + reserved`` (what they really gained
  or spent): grant/purchase ``+n``, charge ``-c``, adjust ``±n``, reserve and refund ``0``.
* ``held`` is the change of ``reserved``: reserve ``+c``, charge and refund ``-c``, others ``0``.

Hence ``sum(amount) == balance + reserved`` and ``sum(held) == reserved`` for every user, and the
spendable change of a row is ``amount - held``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from hub.db import now_field


class LedgerKind(StrEnum):
    grant = "grant"
    purchase = "purchase"
    reserve = "reserve"
    charge = "charge"
    refund = "refund"
    adjust = "adjust"


# A job's reservation is settled by exactly one charge or one refund; this partial unique index
# makes a second settlement impossible even if a caller got the state machine wrong.
SETTLEMENT_WHERE = "kind IN ('charge', 'refund')"

# SQLite only auto-increments an INTEGER PRIMARY KEY; Postgres gets a 64-bit identity.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Wallet(SQLModel, table=True):
    __tablename__ = "wallets"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="ck_wallets_balance_nonneg"),
        CheckConstraint("reserved >= 0", name="ck_wallets_reserved_nonneg"),
    )

    user_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", ondelete="CASCADE", name="fk_wallets_user_id_users"),
            primary_key=True,
            autoincrement=False,
        )
    )
    balance: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    reserved: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = now_field()
    updated_at: datetime = now_field()


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_ledger_entries_idempotency_key"),
        CheckConstraint(
            "kind IN ('grant', 'purchase', 'reserve', 'charge', 'refund', 'adjust')",
            name="ck_ledger_entries_kind",
        ),
        Index("ix_ledger_entries_user_created", "user_id", "created_at", "entry_id"),
        Index(
            "uq_ledger_entries_settlement",
            "job_id",
            unique=True,
            sqlite_where=text(SETTLEMENT_WHERE),
            postgresql_where=text(SETTLEMENT_WHERE),
        ),
    )

    entry_id: int | None = Field(
        default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True)
    )
    user_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("users.user_id", ondelete="CASCADE", name="fk_ledger_entries_user_id_users"),
            nullable=False,
        )
    )
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    held: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    balance_after: int = Field(sa_column=Column(BigInteger, nullable=False))
    reserved_after: int = Field(sa_column=Column(BigInteger, nullable=False))
    # A plain column: jobs are purged after a retention period, ledger rows stay forever.
    job_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    idempotency_key: str = Field(sa_column=Column(String(128), nullable=False))
    memo: str = Field(default="", sa_column=Column(String(500), nullable=False))
    actor_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="SET NULL", name="fk_ledger_entries_actor_id_users"
            ),
            nullable=True,
        ),
    )
    created_at: datetime = now_field()
