"""Users, tokens and a fast-settings database for the credits and job tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.accounts.deps import Actor
from hub.accounts.tokens import create_personal_token
from hub.accounts.users import create_user, get_user
from hub.credits import service as credits_service
from hub.credits.models import LedgerEntry, Wallet
from hub.db import Database

# Short leases and polls so that worker tests finish in well under a second per step.
FAST: dict[str, Any] = {
    "job_poll_interval": 0.02,
    "job_lease_seconds": 1.0,
    "job_retry_base_seconds": 0.05,
    "job_retry_max_seconds": 1.0,
    "job_cancel_grace_seconds": 1.0,
}

# The hub runs its jobs itself, on the offline engine at a few ms per step (the ``live`` fixture).
EMBEDDED_WORKER: dict[str, Any] = {**FAST, "embedded_worker": True, "offline_step_delay": 0.01}


async def make_user(db: Database, username: str, *, role: str = "user") -> Actor:
    async with db.unit_of_work() as session:
        user = await create_user(
            session,
            email=f"{username}@example.com",
            username=username,
            password=None,
            role=role,  # type: ignore[arg-type]
        )
        assert user.user_id is not None
        return Actor(
            user_id=user.user_id,
            username=user.username,
            display_name=user.display_name,
            role=role,  # type: ignore[arg-type]
            auth="api_token",
        )


async def bearer(db: Database, actor: Actor) -> dict[str, str]:
    """Authorization headers with a fresh personal token for ``actor``."""
    async with db.unit_of_work() as session:
        user = await get_user(session, actor.user_id)
        assert user is not None
        _row, secret = await create_personal_token(session, user, name="tests")
    return {"Authorization": f"Bearer {secret}"}


async def wallet(db: Database, user_id: int) -> tuple[int, int] | None:
    async with db.unit_of_work() as session:
        row = await session.get(Wallet, user_id)
        return (row.balance, row.reserved) if row else None


async def ledger_rows(db: Database, user_id: int) -> list[LedgerEntry]:
    async with db.unit_of_work() as session:
        result = await session.execute(
            select(LedgerEntry)
            .where(LedgerEntry.user_id == user_id)  # type: ignore[arg-type]
            .order_by(LedgerEntry.entry_id)  # type: ignore[arg-type]
        )
        return list(result.scalars())


async def assert_books_balance(db: Database, user_id: int) -> None:
    """The ledger explains the wallet: sum(amount) == balance + reserved, sum(held) ==
    reserved, the last row's *_after columns equal the wallet, and nothing is negative."""
    async with db.unit_of_work() as session:
        row = await session.get(Wallet, user_id)
        assert row is not None
        amount_sum, held_sum = await credits_service.ledger_totals(session, user_id)
        last = (
            await session.execute(
                select(LedgerEntry)
                .where(LedgerEntry.user_id == user_id)  # type: ignore[arg-type]
                .order_by(LedgerEntry.entry_id.desc())  # type: ignore[union-attr]
                .limit(1)
            )
        ).scalar_one()
    assert row.balance >= 0
    assert row.reserved >= 0
    assert amount_sum == row.balance + row.reserved
    assert held_sum == row.reserved
    assert (last.balance_after, last.reserved_after) == (row.balance, row.reserved)
