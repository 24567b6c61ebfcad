"""Settling: every way a job leaves ``running`` (or ``queued``), with its credits.

Each state change is one conditional UPDATE (``WHERE job_id = ? AND state = ?`` and, for a
running job, ``AND locked_by = <lease token>``), and the credits settlement rides in the same
transaction, so a job's reservation is charged or refunded exactly once whatever races happen.
Every function returns None when its condition no longer held (the lease was lost, the job was
claimed or settled meanwhile).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.credits import service as credits_service
from hub.db import UTCDateTime, settings_of, utcnow
from hub.generation.models import Job, JobState
from hub.generation.queue.refs import ImageRef, Outcome, Settled
from hub.generation.queue.rows import (
    JOBS,
    held_by,
    is_postgres,
    row_to_job,
    update_job,
)
from hub.notifications.service import NotificationKind, notify
from hub.settings import Settings


def retry_delay(
    attempts: int, *, base: float, cap: float, retry_after: float | None = None
) -> float:
    """Exponential backoff: ``base * 2 ** (attempts - 1)``, at least the upstream's hint, at most
    ``cap``."""
    delay = base * (2 ** max(0, attempts - 1))
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return float(min(delay, cap))


def _finished(state: JobState, now: datetime) -> dict[str, Any]:
    return {
        "state": state.value,
        "finished_at": now,
        "locked_by": None,
        "locked_until": None,
    }


def _requeued(
    settings: Settings,
    attempts: int,
    *,
    now: datetime,
    code: str,
    message: str,
    retry_after: float | None = None,
) -> dict[str, Any]:
    """Back to the queue after the backoff of ``attempts``, keeping the error for the owner."""
    delay = retry_delay(
        attempts,
        base=settings.job_retry_base_seconds,
        cap=settings.job_retry_max_seconds,
        retry_after=retry_after,
    )
    return {
        "state": JobState.queued.value,
        "next_attempt_at": now + timedelta(seconds=delay),
        "locked_by": None,
        "locked_until": None,
        "error_code": code[:64],
        "error_message": message[:1000],
    }


# Built once: the success path runs once per job (see claim._CLAIM).
_COMPLETE = (
    update(JOBS)
    .where(
        JOBS.c.job_id == bindparam("b_job_id"),
        JOBS.c.locked_by == bindparam("b_lease"),
        JOBS.c.state == JobState.running.value,
    )
    .values(
        state=JobState.succeeded.value,
        finished_at=bindparam("b_now", type_=UTCDateTime()),
        locked_by=None,
        locked_until=None,
        result=bindparam("b_result", type_=JOBS.c.result.type),
        step=JOBS.c.total_steps,
        error_code=None,
        error_message=None,
    )
    .returning(*JOBS.c)
)


async def complete_job(
    session: AsyncSession,
    *,
    job_id: str,
    lease: str,
    images: Sequence[ImageRef],
    now: datetime | None = None,
) -> Job | None:
    """running -> succeeded and charge the reservation. None when the lease was lost."""
    now = now or utcnow()
    params = {
        "b_job_id": job_id,
        "b_lease": lease,
        "b_now": now,
        "b_result": {"images": [image.to_dict() for image in images]},
    }
    row = (await session.execute(_COMPLETE, params)).first()
    job = row_to_job(row) if row else None
    if job is not None:
        await credits_service.charge_reservation(
            session, job_id=job_id, memo=f"Generation ({job.model})"
        )
        await _notify_finished(session, job, len(images))
    return job


async def _notify_finished(session: AsyncSession, job: Job, count: int) -> None:
    """ "Your job finished" to whoever pressed generate, in the settling transaction (so it is
    sent once, when the job really succeeded), linking to the room or to "My images"."""
    images = "1 image" if count == 1 else f"{count} images"
    await notify(
        session,
        recipient_id=job.owner_id,
        kind=NotificationKind.job_finished,
        actor_id=None,
        text=f"Your job finished: {images} ({job.model})",
        url=f"/r/{quote(job.room_id, safe='')}" if job.room_id else "/images",
        subject_type="job",
        subject_id=job.job_id,
    )


async def _fail(
    session: AsyncSession, where: Sequence[Any], *, code: str, message: str, now: datetime
) -> Job | None:
    values = _finished(JobState.failed, now)
    values.update(error_code=code[:64], error_message=message[:1000])
    job = await update_job(session, where, values)
    if job is not None:
        await credits_service.refund_reservation(
            session, job_id=job.job_id, memo="Generation failed"
        )
    return job


async def _cancel(session: AsyncSession, where: Sequence[Any], *, now: datetime) -> Job | None:
    values = _finished(JobState.canceled, now)
    values.update(cancel_requested=True)
    job = await update_job(session, where, values)
    if job is not None:
        await credits_service.refund_reservation(
            session, job_id=job.job_id, memo="Generation canceled"
        )
    return job


async def fail_job(
    session: AsyncSession,
    *,
    job_id: str,
    lease: str,
    code: str,
    message: str,
    retryable: bool,
    retry_after: float | None = None,
    now: datetime | None = None,
) -> Settled | None:
    """A run failed. Retryable errors with attempts left go back to the queue after a backoff;
    anything else fails the job and refunds it. None when the lease was lost."""
    now = now or utcnow()
    held = held_by(job_id, lease)
    row = (await session.execute(select(JOBS).where(*held))).first()
    if row is None:
        return None
    current = row_to_job(row)
    if current.cancel_requested:
        # The owner asked to stop it anyway: a cancel, not a failure (refunded either way).
        canceled = await _cancel(session, held, now=now)
        return Settled(canceled, "canceled") if canceled is not None else None
    if retryable and current.attempts < current.max_attempts:
        values = _requeued(
            settings_of(session),
            current.attempts,
            now=now,
            code=code,
            message=message,
            retry_after=retry_after,
        )
        job = await update_job(session, held, values)
        return Settled(job, "retry") if job is not None else None
    failed = await _fail(session, held, code=code, message=message, now=now)
    return Settled(failed, "failed") if failed is not None else None


async def finish_canceled(
    session: AsyncSession, *, job_id: str, lease: str, now: datetime | None = None
) -> Job | None:
    """A running job stopped because its owner canceled it: canceled + refund."""
    return await _cancel(session, held_by(job_id, lease), now=now or utcnow())


async def release_job(session: AsyncSession, *, job_id: str, lease: str) -> Job | None:
    """Give a running job back to the queue (graceful worker stop): the attempt is not counted,
    because the job did nothing wrong."""
    j = JOBS.c
    return await update_job(
        session,
        held_by(job_id, lease),
        {
            "state": JobState.queued.value,
            "locked_by": None,
            "locked_until": None,
            "attempts": case((j.attempts > 0, j.attempts - 1), else_=0),
            "next_attempt_at": utcnow(),
        },
    )


async def _settle_expired(
    session: AsyncSession, expired: Job, *, settings: Settings, now: datetime
) -> Settled | None:
    j = JOBS.c
    where = [
        j.job_id == expired.job_id,
        j.state == JobState.running.value,
        j.locked_by == expired.locked_by,
        j.locked_until < now,
    ]
    outcome: Outcome
    if expired.cancel_requested:
        job, outcome = await _cancel(session, where, now=now), "canceled"
    elif expired.attempts >= expired.max_attempts:
        message = "The worker running this job stopped responding too many times."
        job = await _fail(session, where, code="lease_expired", message=message, now=now)
        outcome = "failed"
    else:
        message = "The worker running this job stopped responding."
        values = _requeued(
            settings, expired.attempts, now=now, code="lease_expired", message=message
        )
        job, outcome = await update_job(session, where, values), "requeued"
    return Settled(job, outcome) if job is not None else None


async def reap_expired(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 100
) -> list[Settled]:
    """Jobs whose lease expired (their worker died or hung): back to the queue if attempts are
    left (each claim counted one), failed + refunded if not, canceled + refunded if their owner
    asked for it meanwhile."""
    now = now or utcnow()
    j = JOBS.c
    pick = (
        select(JOBS)
        .where(j.state == JobState.running.value, j.locked_until < now)
        .order_by(j.locked_until)
        .limit(limit)
    )
    if is_postgres(session):
        pick = pick.with_for_update(skip_locked=True)
    settled: list[Settled] = []
    settings = settings_of(session)
    for row in (await session.execute(pick)).all():
        item = await _settle_expired(session, row_to_job(row), settings=settings, now=now)
        if item is not None:
            settled.append(item)
    return settled


# --- cancel (API side) ---------------------------------------------------------------------------


async def cancel_queued(session: AsyncSession, job_id: str) -> Job | None:
    """queued -> canceled + refund at once. None if it was not queued any more."""
    j = JOBS.c
    return await _cancel(
        session, [j.job_id == job_id, j.state == JobState.queued.value], now=utcnow()
    )


async def request_cancel(session: AsyncSession, job_id: str) -> Job | None:
    """Flag a running job; its worker stops the runner and settles. None if not running."""
    j = JOBS.c
    return await update_job(
        session,
        [j.job_id == job_id, j.state == JobState.running.value],
        {"cancel_requested": True},
    )
