"""While a job runs: its worker renews the lease, polls for cancel requests and records progress.

Every write is conditional on the lease token (:func:`~hub.generation.queue.rows.held_by`), so a
worker that lost its job (lease expired, job re-queued) can never touch the new claim.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import settings_of, utcnow
from hub.generation.models import JobState
from hub.generation.queue.rows import JOBS, held_by


async def extend_leases(
    session: AsyncSession, leases: Iterable[str], *, now: datetime | None = None
) -> dict[str, bool]:
    """Renew the given leases; returns ``{lease: cancel_requested}`` for the ones still held
    (a lease missing from the answer was lost: the job was re-queued or settled elsewhere)."""
    tokens = list(leases)
    if not tokens:
        return {}
    now = now or utcnow()
    lease_s = settings_of(session).job_lease_seconds
    stmt = (
        update(JOBS)
        .where(JOBS.c.locked_by.in_(tokens), JOBS.c.state == JobState.running.value)
        .values(locked_until=now + timedelta(seconds=lease_s))
        .returning(JOBS.c.locked_by, JOBS.c.cancel_requested)
    )
    return {row.locked_by: bool(row.cancel_requested) for row in await session.execute(stmt)}


async def cancel_requests(session: AsyncSession, leases: Iterable[str]) -> dict[str, bool]:
    """``{lease: cancel_requested}`` for the leases still held (a cheap read, polled often)."""
    tokens = list(leases)
    if not tokens:
        return {}
    stmt = select(JOBS.c.locked_by, JOBS.c.cancel_requested).where(
        JOBS.c.locked_by.in_(tokens), JOBS.c.state == JobState.running.value
    )
    return {row.locked_by: bool(row.cancel_requested) for row in await session.execute(stmt)}


async def record_progress(
    session: AsyncSession, *, job_id: str, lease: str, step: int, total: int
) -> bool:
    stmt = (
        update(JOBS)
        .where(*held_by(job_id, lease))
        .values(step=max(0, step), total_steps=max(0, total))
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))
