"""Credits: lazily created wallets, reservations for jobs and the append-only ledger.

Every movement is ONE conditional statement on the wallet row plus one ledger row, in the caller's
transaction (a read-check-write debit double-spends: 50 concurrent debits of a 10-credit balance
were all accepted; ADR 0005)::

    UPDATE wallets SET balance = balance + :spendable, reserved = reserved + :held
    WHERE user_id = :u AND balance + :spendable >= 0 AND reserved + :held >= 0
    RETURNING balance, reserved

The ledger row's UNIQUE ``idempotency_key`` makes a repeated operation a no-op (``reserve:{job}``,
``charge:{job}``, ``refund:{job}``, ``signup:{user}``, ...), and a partial unique index lets a
job's reservation be settled (charged or refunded) only once. Services flush and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import Integer, Table, bindparam, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.roles import UserRole, require_role
from hub.audit import service as audit
from hub.credits.models import LedgerEntry, LedgerKind, Wallet
from hub.credits.schemas import (
    MAX_OPERATION_CREDITS,
    BalanceOut,
    LedgerEntryOut,
    LedgerPage,
)
from hub.db import UTCDateTime, settings_of, utcnow
from hub.errors import BadRequest, Conflict, InsufficientCredits, NotFound
from hub.metrics import count_credits
from hub.pagination import PageParams, decode_cursor, encode_cursor

WALLETS: Table = Wallet.metadata.tables[Wallet.__tablename__]
LEDGER: Table = LedgerEntry.metadata.tables[LedgerEntry.__tablename__]


# The settle path runs once per job: its statements are built once (building and cache-keying a
# statement costs about as much as running it, docs/performance.md "Queue").
_W = WALLETS.c
_MOVE_WALLET = (
    update(WALLETS)
    .where(
        _W.user_id == bindparam("w_user", type_=Integer()),
        _W.balance + bindparam("w_spendable", type_=Integer()) >= 0,
        _W.reserved + bindparam("w_held", type_=Integer()) >= 0,
    )
    .values(
        balance=_W.balance + bindparam("w_spendable", type_=Integer()),
        reserved=_W.reserved + bindparam("w_held", type_=Integer()),
        updated_at=bindparam("w_now", type_=UTCDateTime()),
    )
    .returning(_W.balance, _W.reserved)
)
_LEDGER_INSERT = {
    "postgresql": postgresql.insert(LEDGER).on_conflict_do_nothing().returning(*LEDGER.c),
    "sqlite": sqlite.insert(LEDGER).on_conflict_do_nothing().returning(*LEDGER.c),
}
_ENTRIES_BY_KEY = select(LEDGER).where(
    LEDGER.c.idempotency_key.in_(bindparam("keys", expanding=True))
)


class CreditsActor(Protocol):
    """What the credits service needs to know about the caller (``hub.accounts.deps.Actor``)."""

    @property
    def user_id(self) -> int: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class _Move:
    user_id: int
    kind: LedgerKind
    amount: int
    held: int
    key: str
    job_id: str | None = None
    memo: str = ""
    actor_id: int | None = None

    @property
    def spendable(self) -> int:
        return self.amount - self.held


def _insert(session: AsyncSession, table: Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(**row._mapping)


async def _entry_by_key(session: AsyncSession, key: str) -> LedgerEntry | None:
    row = (await session.execute(select(LEDGER).where(LEDGER.c.idempotency_key == key))).first()
    return _entry(row) if row else None


async def _settlement(session: AsyncSession, job_id: str) -> LedgerEntry | None:
    stmt = select(LEDGER).where(
        LEDGER.c.job_id == job_id,
        LEDGER.c.kind.in_([LedgerKind.charge.value, LedgerKind.refund.value]),
    )
    row = (await session.execute(stmt)).first()
    return _entry(row) if row else None


async def _record(session: AsyncSession, move: _Move) -> LedgerEntry | None:
    """Apply ``move`` to the wallet and the ledger; None when the wallet cannot afford it.

    If the ledger row's key (or the job's settlement) already exists, a concurrent or earlier
    call did the same operation: the wallet change is undone in this transaction and that
    earlier row is returned, so the operation happens exactly once.
    """
    now = utcnow()
    wallet = WALLETS.c
    params = {"w_user": move.user_id, "w_spendable": move.spendable, "w_held": move.held}
    changed = (await session.execute(_MOVE_WALLET, {**params, "w_now": now})).first()
    if changed is None:
        return None
    values = {
        "user_id": move.user_id,
        "kind": move.kind.value,
        "amount": move.amount,
        "held": move.held,
        "balance_after": changed.balance,
        "reserved_after": changed.reserved,
        "job_id": move.job_id,
        "idempotency_key": move.key,
        "memo": move.memo,
        "actor_id": move.actor_id,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    inserted = (await session.execute(_LEDGER_INSERT[dialect], values)).first()
    if inserted is not None:
        _count_after_commit(session, move)
        return _entry(inserted)
    await session.execute(
        update(WALLETS)
        .where(wallet.user_id == move.user_id)
        .values(balance=wallet.balance - move.spendable, reserved=wallet.reserved - move.held)
    )
    earlier = await _entry_by_key(session, move.key)
    if earlier is None and move.job_id is not None:
        earlier = await _settlement(session, move.job_id)
    if earlier is None:  # pragma: no cover - a conflict always leaves the row it conflicted with
        raise RuntimeError(f"ledger conflict without a row for {move.key}")
    return earlier


def _count_after_commit(session: AsyncSession, move: _Move) -> None:
    """``hub_credits_total{operation}`` counts what was committed: a rolled-back move is not."""
    moved = abs(move.held) if move.kind in (LedgerKind.reserve, LedgerKind.refund) else move.amount
    operation, amount = move.kind.value, abs(moved)
    outbox = session.info.get("outbox")
    if outbox is None:  # a bare session (tests, scripts): nothing runs after its commit
        return

    async def count() -> None:
        count_credits(operation, amount)

    outbox.add(count)


async def _ensure_wallet(session: AsyncSession, user_id: int) -> None:
    """Create the wallet with the signup grant the first time a user's credits are touched."""
    now = utcnow()
    stmt = (
        _insert(session, WALLETS)
        .values(user_id=user_id, balance=0, reserved=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing()
        .returning(WALLETS.c.user_id)
    )
    created = (await session.execute(stmt)).first()
    signup = settings_of(session).signup_credits
    if created is not None and signup > 0:
        grant = _Move(
            user_id=user_id,
            kind=LedgerKind.grant,
            amount=signup,
            held=0,
            key=f"signup:{user_id}",
            memo="Signup credits",
        )
        await _record(session, grant)


async def _balance_row(session: AsyncSession, user_id: int) -> Any:
    stmt = select(WALLETS.c.balance, WALLETS.c.reserved).where(WALLETS.c.user_id == user_id)
    return (await session.execute(stmt)).first()


async def _apply(session: AsyncSession, move: _Move) -> LedgerEntry:
    earlier = await _entry_by_key(session, move.key)
    if earlier is not None:
        return earlier
    await _ensure_wallet(session, move.user_id)
    entry = await _record(session, move)
    if entry is not None:
        return entry
    earlier = await _entry_by_key(session, move.key)
    if earlier is not None:
        return earlier
    row = await _balance_row(session, move.user_id)
    balance = row.balance if row else 0
    raise InsufficientCredits(
        f"This needs {-move.spendable} credits; you have {balance}.",
        balance=balance,
        required=-move.spendable,
    )


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"credit amounts are integers, got {amount!r}")
    if not 1 <= amount <= MAX_OPERATION_CREDITS:
        raise ValueError(f"credit amount out of range: {amount}")


# --- reads -------------------------------------------------------------------------------------


async def get_balance(session: AsyncSession, user_id: int) -> BalanceOut:
    """The user's wallet (created with the signup grant on first use)."""
    row = await _balance_row(session, user_id)
    if row is None:
        await _ensure_wallet(session, user_id)
        await session.flush()
        row = await _balance_row(session, user_id)
    if row is None:  # pragma: no cover - _ensure_wallet just inserted it
        raise RuntimeError(f"wallet of user {user_id} is missing")
    return BalanceOut(user_id=user_id, balance=row.balance, reserved=row.reserved)


async def get_reservation(session: AsyncSession, job_id: str) -> LedgerEntry | None:
    return await _entry_by_key(session, f"reserve:{job_id}")


async def list_ledger(
    session: AsyncSession, actor: CreditsActor, *, params: PageParams
) -> LedgerPage:
    """The actor's ledger, newest first, cursor-paged on (created_at, entry_id)."""
    await _ensure_wallet(session, actor.user_id)
    stmt = select(LEDGER).where(LEDGER.c.user_id == actor.user_id)
    if params.cursor:
        created, entry_id = decode_cursor(params.cursor)
        if not isinstance(entry_id, int) or created.tzinfo is None:
            raise BadRequest("The cursor is not valid; start again without it.")
        stmt = stmt.where(tuple_(LEDGER.c.created_at, LEDGER.c.entry_id) < (created, entry_id))
    stmt = stmt.order_by(LEDGER.c.created_at.desc(), LEDGER.c.entry_id.desc())
    rows = (await session.execute(stmt.limit(params.limit + 1))).all()
    items = [LedgerEntryOut.model_validate(_entry(r)) for r in rows[: params.limit]]
    next_cursor = None
    if len(rows) > params.limit:
        last = items[-1]
        next_cursor = encode_cursor(last.created_at, last.entry_id)
    return LedgerPage(items=items, next_cursor=next_cursor)


# --- movements ---------------------------------------------------------------------------------


async def reserve_credits(
    session: AsyncSession,
    *,
    user_id: int,
    amount: int,
    job_id: str,
    memo: str = "",
    actor_id: int | None = None,
) -> LedgerEntry:
    """Hold ``amount`` credits for ``job_id``; raises InsufficientCredits (402). Idempotent."""
    _check_amount(amount)
    move = _Move(
        user_id=user_id,
        kind=LedgerKind.reserve,
        amount=0,
        held=amount,
        key=f"reserve:{job_id}",
        job_id=job_id,
        memo=memo,
        actor_id=actor_id,
    )
    return await _apply(session, move)


async def _settle(
    session: AsyncSession, job_id: str, kind: LedgerKind, memo: str
) -> LedgerEntry | None:
    # One indexed read for the reservation and any earlier settlement: only this function
    # writes charge/refund rows, always keyed ``{kind}:{job}`` (so a key lookup finds them).
    keys = [f"reserve:{job_id}", f"charge:{job_id}", f"refund:{job_id}"]
    rows = await session.execute(_ENTRIES_BY_KEY, {"keys": keys})
    entries = {row.kind: row for row in rows}
    for settled in (LedgerKind.charge.value, LedgerKind.refund.value):
        if settled in entries:
            return _entry(entries[settled])
    if LedgerKind.reserve.value not in entries:
        return None
    reservation = _entry(entries[LedgerKind.reserve.value])
    held = reservation.held
    move = _Move(
        user_id=reservation.user_id,
        kind=kind,
        amount=-held if kind is LedgerKind.charge else 0,
        held=-held,
        key=f"{kind.value}:{job_id}",
        job_id=job_id,
        memo=memo,
    )
    entry = await _record(session, move)
    if entry is None:  # pragma: no cover - reserved always covers an unsettled reservation
        raise RuntimeError(f"reservation of job {job_id} is not covered by the wallet")
    return entry


async def charge_reservation(
    session: AsyncSession, *, job_id: str, memo: str = ""
) -> LedgerEntry | None:
    """Spend the job's reservation (success). None when nothing was reserved. Idempotent; a job
    already refunded stays refunded (the earlier settlement is returned)."""
    return await _settle(session, job_id, LedgerKind.charge, memo)


async def refund_reservation(
    session: AsyncSession, *, job_id: str, memo: str = ""
) -> LedgerEntry | None:
    """Give the job's reservation back (failure, cancel). None when nothing was reserved."""
    return await _settle(session, job_id, LedgerKind.refund, memo)


async def grant_credits(
    session: AsyncSession,
    *,
    user_id: int,
    amount: int,
    idempotency_key: str,
    kind: LedgerKind = LedgerKind.grant,
    memo: str = "",
    actor_id: int | None = None,
) -> LedgerEntry:
    """Add credits (a grant or a purchase). The key makes a repeated call a no-op."""
    _check_amount(amount)
    if kind not in (LedgerKind.grant, LedgerKind.purchase):
        raise ValueError(f"grant_credits cannot record {kind}")
    move = _Move(
        user_id=user_id,
        kind=kind,
        amount=amount,
        held=0,
        key=f"{kind.value}:{idempotency_key}",
        memo=memo,
        actor_id=actor_id,
    )
    return await _apply(session, move)


def _adjustable(current: BalanceOut, amount: int, *, force: bool) -> int:
    """What an adjustment of ``amount`` may really move: all of it, or with ``force`` what the
    balance holds (402 without force, 409 when nothing is left to take)."""
    if current.balance + amount >= 0:
        return amount
    if not force:
        raise InsufficientCredits(
            f"This would take the balance below zero ({current.balance} + {amount}); "
            'send "force": true with a reason to take what is there.',
            balance=current.balance,
            required=-amount,
        )
    if current.balance == 0:
        raise Conflict("The balance is already zero; there is nothing to take.")
    return -current.balance


async def adjust_credits(
    session: AsyncSession,
    actor: CreditsActor,
    *,
    user_id: int,
    amount: int,
    memo: str,
    idempotency_key: str | None = None,
    force: bool = False,
) -> tuple[LedgerEntry, BalanceOut]:
    """An admin correction (positive or negative). A negative one that would take the balance
    below zero is refused (402) unless ``force``: then it takes what the balance holds, down to
    zero and never below (the wallet's CHECK and the ledger invariants stay true; credits held
    for running jobs are not touched). The ledger row and the audit entry record what was
    really taken; the audit entry also the amount asked for (docs/admin.md)."""
    require_role(actor, UserRole.ADMIN, to="adjust credits")
    if amount == 0 or abs(amount) > MAX_OPERATION_CREDITS:
        raise ValueError(f"adjustment out of range: {amount}")
    from hub.accounts.users import get_user

    if await get_user(session, user_id) is None:
        raise NotFound("No such user.")
    key = f"adjust:{actor.user_id}:{idempotency_key or uuid.uuid4().hex}"
    earlier = await _entry_by_key(session, key)
    if earlier is not None:  # a retry: applied once already
        return earlier, await get_balance(session, user_id)
    applied = _adjustable(await get_balance(session, user_id), amount, force=force)
    move = _Move(
        user_id=user_id,
        kind=LedgerKind.adjust,
        amount=applied,
        held=0,
        key=key,
        memo=memo,
        actor_id=actor.user_id,
    )
    entry = await _apply(session, move)
    balance = await get_balance(session, user_id)
    after: dict[str, Any] = {"balance": balance.balance}
    if applied != amount:
        after.update(requested=amount, applied=applied, forced=True)
    # In the adjustment's transaction: the audit entry exists exactly when the change does.
    await audit.record(
        session,
        actor_id=actor.user_id,
        action="credits.adjust",
        target_type="user",
        target_id=user_id,
        before={"balance": balance.balance - applied},
        after=after,
        reason=memo,
    )
    return entry, balance


async def revoke_credits(
    session: AsyncSession,
    *,
    user_id: int,
    amount: int,
    idempotency_key: str,
    memo: str = "",
    actor_id: int | None = None,
) -> tuple[LedgerEntry, int]:
    """Take back up to ``amount`` spendable credits (a refunded purchase): as many as the
    balance holds, never below zero and never from reservations. Returns the ledger row
    (kind ``adjust``, ``amount`` = minus what was taken, possibly 0) and the credits it could
    not take (the shortfall). The key makes a repeated call a no-op that returns the first
    row and its shortfall again."""
    _check_amount(amount)
    key = f"revoke:{idempotency_key}"
    earlier = await _entry_by_key(session, key)
    if earlier is not None:
        return earlier, amount + earlier.amount
    await _ensure_wallet(session, user_id)
    # The balance can drop between the read and the conditional debit (a job reserved meanwhile
    # on another connection): read again and take what is there then.
    for _attempt in range(5):
        row = await _balance_row(session, user_id)
        take = min(amount, row.balance if row else 0)
        move = _Move(
            user_id=user_id,
            kind=LedgerKind.adjust,
            amount=-take,
            held=0,
            key=key,
            memo=memo,
            actor_id=actor_id,
        )
        entry = await _record(session, move)
        if entry is not None:
            return entry, amount + entry.amount
    raise InsufficientCredits("The balance kept changing; try again.")  # pragma: no cover


async def spending_by_day(
    session: AsyncSession, user_id: int, *, since: datetime
) -> list[tuple[date, int]]:
    """Credits the user spent on jobs (charges) per UTC day since ``since``, oldest first;
    days without spending are left out."""
    stmt = select(LEDGER.c.created_at, LEDGER.c.amount).where(
        LEDGER.c.user_id == user_id,
        LEDGER.c.kind == LedgerKind.charge.value,
        LEDGER.c.created_at >= since,
    )
    totals: dict[date, int] = {}
    # Grouped here, not in SQL: the two databases name and type a timestamp's date differently,
    # and the rows are one user's charges of a few weeks (bounded by the chart's window).
    for created_at, amount in (await session.execute(stmt)).all():
        day = created_at.astimezone(UTC).date()
        totals[day] = totals.get(day, 0) - int(amount)
    return sorted(totals.items())


async def ledger_totals(session: AsyncSession, user_id: int) -> tuple[int, int]:
    """(sum of amounts, sum of held) over the user's ledger: equal to (balance + reserved,
    reserved) whenever the books are right. Used by tests and ``hub`` admin checks."""
    stmt = select(
        func.coalesce(func.sum(LEDGER.c.amount), 0), func.coalesce(func.sum(LEDGER.c.held), 0)
    ).where(LEDGER.c.user_id == user_id)
    row = (await session.execute(stmt)).one()
    return int(row[0]), int(row[1])
