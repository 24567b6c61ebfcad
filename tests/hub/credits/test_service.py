"""Credits service: lazy wallets, reserve/charge/refund, idempotency, admin adjustments."""

from __future__ import annotations

import asyncio

import pytest

from hub.credits import service
from hub.credits.models import LedgerKind
from hub.db import Database
from hub.errors import Forbidden, InsufficientCredits, NotFound
from hub.pagination import PageParams
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import (
    assert_books_balance,
    ledger_rows,
    make_user,
    wallet,
)


@BOTH_DATABASES
async def test_wallet_is_created_lazily_with_the_signup_grant(db: Database) -> None:
    alice = await make_user(db, "alice")
    assert await wallet(db, alice.user_id) is None
    async with db.unit_of_work() as session:
        balance = await service.get_balance(session, alice.user_id)
    assert (balance.balance, balance.reserved) == (100, 0)
    async with db.unit_of_work() as session:
        again = await service.get_balance(session, alice.user_id)
    assert again.balance == 100
    rows = await ledger_rows(db, alice.user_id)
    assert [(r.kind, r.amount, r.idempotency_key) for r in rows] == [
        ("grant", 100, f"signup:{alice.user_id}")
    ]


@BOTH_DATABASES
async def test_reserve_charge_refund_move_credits_and_keep_the_books(db: Database) -> None:
    alice = await make_user(db, "alice")
    async with db.unit_of_work() as session:
        entry = await service.reserve_credits(
            session, user_id=alice.user_id, amount=30, job_id="j1"
        )
        await service.reserve_credits(session, user_id=alice.user_id, amount=20, job_id="j2")
    assert (entry.kind, entry.amount, entry.held, entry.balance_after) == ("reserve", 0, 30, 70)
    assert await wallet(db, alice.user_id) == (50, 50)
    async with db.unit_of_work() as session:
        charge = await service.charge_reservation(session, job_id="j1")
        refund = await service.refund_reservation(session, job_id="j2")
    assert charge is not None
    assert (charge.amount, charge.held) == (-30, -30)
    assert refund is not None
    assert (refund.amount, refund.held) == (0, -20)
    assert await wallet(db, alice.user_id) == (70, 0)
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_repeated_operations_are_applied_once(db: Database) -> None:
    alice = await make_user(db, "alice")
    async with db.unit_of_work() as session:
        first = await service.reserve_credits(session, user_id=alice.user_id, amount=5, job_id="j")
    async with db.unit_of_work() as session:
        again = await service.reserve_credits(session, user_id=alice.user_id, amount=5, job_id="j")
        grant1 = await service.grant_credits(
            session, user_id=alice.user_id, amount=7, idempotency_key="promo-1"
        )
        grant2 = await service.grant_credits(
            session, user_id=alice.user_id, amount=7, idempotency_key="promo-1"
        )
    assert again.entry_id == first.entry_id
    assert grant1.entry_id == grant2.entry_id
    async with db.unit_of_work() as session:
        c1 = await service.charge_reservation(session, job_id="j")
        c2 = await service.charge_reservation(session, job_id="j")
        # A refund after the charge returns the charge: one settlement per job, ever.
        r = await service.refund_reservation(session, job_id="j")
    assert c1 is not None
    assert c2 is not None
    assert r is not None
    assert c1.entry_id == c2.entry_id == r.entry_id
    assert r.kind == "charge"
    assert await wallet(db, alice.user_id) == (102, 0)
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_reserve_beyond_the_balance_is_402_and_changes_nothing(db: Database) -> None:
    alice = await make_user(db, "alice")
    with pytest.raises(InsufficientCredits) as caught:
        async with db.unit_of_work() as session:
            await service.reserve_credits(session, user_id=alice.user_id, amount=101, job_id="x")
    assert caught.value.status == 402
    assert caught.value.details == {"balance": 100, "required": 101}
    # The failed debit rolled back with its transaction; the lazily created wallet too.
    assert await wallet(db, alice.user_id) is None
    async with db.unit_of_work() as session:
        assert await service.get_reservation(session, "x") is None


@BOTH_DATABASES
async def test_settling_a_job_without_reservation_is_a_no_op(db: Database) -> None:
    async with db.unit_of_work() as session:
        assert await service.charge_reservation(session, job_id="nothing") is None
        assert await service.refund_reservation(session, job_id="nothing") is None


async def test_amounts_must_be_positive_integers(db: Database) -> None:
    alice = await make_user(db, "alice")
    async with db.unit_of_work() as session:
        for bad in (0, -5, 10**10):
            with pytest.raises(ValueError, match="out of range"):
                await service.reserve_credits(
                    session, user_id=alice.user_id, amount=bad, job_id="j"
                )
        with pytest.raises(TypeError):
            await service.grant_credits(
                session,
                user_id=alice.user_id,
                amount=True,
                idempotency_key="k",
            )
        with pytest.raises(ValueError, match="cannot record"):
            await service.grant_credits(
                session,
                user_id=alice.user_id,
                amount=1,
                idempotency_key="k",
                kind=LedgerKind.charge,
            )


@BOTH_DATABASES
async def test_adjust_is_admin_only_and_never_overdraws(db: Database) -> None:
    admin = await make_user(db, "boss", role="admin")
    alice = await make_user(db, "alice")
    async with db.unit_of_work() as session:
        with pytest.raises(Forbidden):
            await service.adjust_credits(session, alice, user_id=alice.user_id, amount=5, memo="me")
        with pytest.raises(NotFound):
            await service.adjust_credits(session, admin, user_id=99999, amount=5, memo="ghost")
    with pytest.raises(InsufficientCredits) as caught:
        async with db.unit_of_work() as session:
            await service.adjust_credits(
                session, admin, user_id=alice.user_id, amount=-101, memo="too much"
            )
    assert caught.value.details == {"balance": 100, "required": 101}
    async with db.unit_of_work() as session:
        entry, balance = await service.adjust_credits(
            session,
            admin,
            user_id=alice.user_id,
            amount=-40,
            memo="chargeback",
            idempotency_key="k1",
        )
        again, _ = await service.adjust_credits(
            session,
            admin,
            user_id=alice.user_id,
            amount=-40,
            memo="chargeback",
            idempotency_key="k1",
        )
    assert entry.entry_id == again.entry_id
    assert entry.actor_id == admin.user_id
    assert (balance.balance, balance.reserved) == (60, 0)
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_ledger_pages_newest_first_without_gaps(db: Database) -> None:
    alice = await make_user(db, "alice")
    async with db.unit_of_work() as session:
        for n in range(6):
            await service.grant_credits(
                session, user_id=alice.user_id, amount=n + 1, idempotency_key=f"g{n}"
            )
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        async with db.unit_of_work() as session:
            page = await service.list_ledger(
                session, alice, params=PageParams(cursor=cursor, limit=3)
            )
        seen.extend(item.entry_id for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 7  # signup + 6 grants
    assert seen == sorted(seen, reverse=True)


@BOTH_DATABASES
async def test_fifty_concurrent_reservations_on_ten_credits_accept_exactly_ten(
    db: Database,
) -> None:
    db.settings = db.settings.model_copy(update={"signup_credits": 10})
    alice = await make_user(db, "alice")

    async def reserve(n: int) -> bool:
        try:
            # Separate unit of work = separate connection and transaction, really concurrent.
            async with db.unit_of_work() as session:
                await service.reserve_credits(
                    session, user_id=alice.user_id, amount=1, job_id=f"job-{n}"
                )
            return True
        except InsufficientCredits:
            return False

    results = await asyncio.gather(*(reserve(n) for n in range(50)))
    assert sum(results) == 10
    assert await wallet(db, alice.user_id) == (0, 10)
    reserves = [r for r in await ledger_rows(db, alice.user_id) if r.kind == "reserve"]
    assert len(reserves) == 10
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_concurrent_retries_of_one_reservation_apply_once(db: Database) -> None:
    alice = await make_user(db, "alice")

    async def reserve() -> int:
        async with db.unit_of_work() as session:
            entry = await service.reserve_credits(
                session, user_id=alice.user_id, amount=7, job_id="same-job"
            )
            assert entry.entry_id is not None
            return entry.entry_id

    ids = await asyncio.gather(*(reserve() for _ in range(12)))
    assert len(set(ids)) == 1
    assert await wallet(db, alice.user_id) == (93, 7)
    await assert_books_balance(db, alice.user_id)
