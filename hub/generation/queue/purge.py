"""Cleanup: old failed and canceled jobs go, and the image keys they still referenced are
handed to storage as orphans. Succeeded jobs are history and stay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import utcnow
from hub.generation.models import JobState
from hub.generation.queue.rows import JOBS


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    orphan_keys: list[str]


async def purge_old_jobs(
    session: AsyncSession, *, older_than: timedelta, now: datetime | None = None, limit: int = 500
) -> PurgeResult:
    """Delete failed and canceled jobs that finished before ``now - older_than`` (up to
    ``limit`` per call) and return the image keys their results still referenced (orphans for
    the storage domain to delete). Succeeded jobs are history and stay."""
    now = now or utcnow()
    j = JOBS.c
    stmt = (
        select(j.job_id, j.result)
        .where(
            j.state.in_([JobState.failed.value, JobState.canceled.value]),
            j.finished_at < now - older_than,
        )
        .order_by(j.finished_at)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return PurgeResult(0, [])
    keys: list[str] = []
    for row in rows:
        images = (row.result or {}).get("images", []) if isinstance(row.result, dict) else []
        keys.extend(
            str(image["key"]) for image in images if isinstance(image, dict) and image.get("key")
        )
    ids = [row.job_id for row in rows]
    await session.execute(
        JOBS.delete().where(
            j.job_id.in_(ids), j.state.in_([JobState.failed.value, JobState.canceled.value])
        )
    )
    return PurgeResult(len(ids), keys)


async def count_old_jobs(
    session: AsyncSession, *, older_than: timedelta, now: datetime | None = None
) -> int:
    """How many jobs :func:`purge_old_jobs` would delete (``hub clean --dry-run``)."""
    j = JOBS.c
    stmt = (
        select(func.count())
        .select_from(JOBS)
        .where(
            j.state.in_([JobState.failed.value, JobState.canceled.value]),
            j.finished_at < (now or utcnow()) - older_than,
        )
    )
    return int((await session.execute(stmt)).scalar_one())
