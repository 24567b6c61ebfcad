"""The queue_control row: pause/resume, and the claim lock that serializes claim decisions.

The claim transaction first bumps ``queue_control.claim_seq`` when a job is due (one statement;
an idle poll matches no row and stays a read): that row lock serializes claim decisions across
workers on Postgres (so the global and per-user caps hold exactly) and takes SQLite's single
write lock up front (``BEGIN IMMEDIATE`` semantics).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import UTCDateTime, utcnow
from hub.generation.models import JobState, QueueControl
from hub.generation.queue.rows import JOBS, QUEUE, QUEUE_ID, is_postgres


async def _ensure_queue_row(session: AsyncSession) -> None:
    values = {"queue_id": QUEUE_ID, "paused": False, "claim_seq": 0, "updated_at": utcnow()}
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    await session.execute(insert(QUEUE).values(**values).on_conflict_do_nothing())


def _lock_stmt(*, when_due: bool) -> Any:
    stmt = (
        update(QUEUE)
        .where(QUEUE.c.queue_id == QUEUE_ID)
        .values(claim_seq=QUEUE.c.claim_seq + 1)
        .returning(QUEUE.c.paused)
    )
    if when_due:
        due = JOBS.alias("due").c
        claimable = (
            select(due.job_id)
            .where(
                due.state == JobState.queued.value,
                due.next_attempt_at <= bindparam("b_now", type_=UTCDateTime()),
            )
            .limit(1)
            .exists()
        )
        stmt = stmt.where(claimable)
    return stmt


_LOCK = _lock_stmt(when_due=False)
_LOCK_WHEN_DUE = _lock_stmt(when_due=True)


async def _any_claimable(session: AsyncSession, now: datetime) -> bool:
    j = JOBS.c
    stmt = (
        select(j.job_id).where(j.state == JobState.queued.value, j.next_attempt_at <= now).limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def lock_queue(session: AsyncSession, *, now: datetime | None = None) -> bool | None:
    """Take the claim lock (the queue_control row) and return whether the queue is paused.

    With ``now``, the lock is only taken when a job is due at ``now``: None means there was
    nothing to claim, and an idle poll stays a read (no lock, no write, no WAL growth)."""
    stmt, params = (_LOCK, {}) if now is None else (_LOCK_WHEN_DUE, {"b_now": now})
    paused = (await session.execute(stmt, params)).scalar_one_or_none()
    if paused is None:
        if now is not None and not await _any_claimable(session, now):
            return None
        # Nothing updated although work is due: the row is missing (a fresh database).
        await _ensure_queue_row(session)
        paused = (await session.execute(stmt, params)).scalar_one_or_none()
        if paused is None:
            return None
    return bool(paused)


async def get_queue_control(session: AsyncSession) -> QueueControl:
    row = (await session.execute(select(QUEUE).where(QUEUE.c.queue_id == QUEUE_ID))).first()
    if row is None:
        return QueueControl(queue_id=QUEUE_ID, paused=False, claim_seq=0)
    return QueueControl(**row._mapping)


async def set_paused(session: AsyncSession, *, paused: bool, actor_id: int | None) -> QueueControl:
    await _ensure_queue_row(session)
    now = utcnow()
    await session.execute(
        update(QUEUE)
        .where(QUEUE.c.queue_id == QUEUE_ID)
        .values(
            paused=paused,
            paused_at=now if paused else None,
            paused_by=actor_id if paused else None,
            updated_at=now,
        )
    )
    return await get_queue_control(session)
