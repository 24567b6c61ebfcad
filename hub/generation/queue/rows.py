"""The jobs and queue_control tables as SQLAlchemy Core, and the reads and writes every part of
the queue shares.

The queue works on Core tables, not ORM objects: every state change is one conditional UPDATE
with RETURNING, and a row becomes a detached :class:`~hub.generation.models.Job` value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.generation.models import Job, JobState, QueueControl

JOBS: Table = Job.metadata.tables[Job.__tablename__]
QUEUE: Table = QueueControl.metadata.tables[QueueControl.__tablename__]
QUEUE_ID = 1


def is_postgres(session: AsyncSession) -> bool:
    return bool(session.get_bind().dialect.name == "postgresql")


def row_to_job(row: Any) -> Job:
    return Job(**row._mapping)


def held_by(job_id: str, lease: str) -> list[Any]:
    """The WHERE clause of a write by the worker holding ``lease`` on a running job."""
    j = JOBS.c
    return [j.job_id == job_id, j.locked_by == lease, j.state == JobState.running.value]


async def update_job(
    session: AsyncSession, where: Sequence[Any], values: dict[str, Any]
) -> Job | None:
    stmt = update(JOBS).where(*where).values(**values).returning(*JOBS.c)
    row = (await session.execute(stmt)).first()
    return row_to_job(row) if row else None


async def get_job(session: AsyncSession, job_id: str) -> Job | None:
    row = (await session.execute(select(JOBS).where(JOBS.c.job_id == job_id))).first()
    return row_to_job(row) if row else None


async def count_jobs(session: AsyncSession, state: JobState, *, user_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(JOBS).where(JOBS.c.state == state.value)
    if user_id is not None:
        stmt = stmt.where(JOBS.c.user_id == user_id)
    return int((await session.execute(stmt)).scalar_one())


async def count_queued_by_owner(session: AsyncSession, owner_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(JOBS)
        .where(JOBS.c.owner_id == owner_id, JOBS.c.state == JobState.queued.value)
    )
    return int((await session.execute(stmt)).scalar_one())
