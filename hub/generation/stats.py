"""Generation's numbers for ``/metrics`` (queue depth) and the stats dashboard (jobs per day by
state and model, median run time, active users)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.generation.models import JobState
from hub.generation.queue.rows import JOBS
from hub.timeseries import DayCounts, day_of

# Only the states a job waits or runs in: terminal ones grow forever and are no queue.
QUEUE_STATES = (JobState.queued.value, JobState.running.value)


async def queue_depth(session: AsyncSession) -> dict[str, int]:
    """Jobs queued and running (ix_jobs_claim covers the count)."""
    stmt = (
        select(JOBS.c.state, func.count())
        .where(JOBS.c.state.in_(QUEUE_STATES))
        .group_by(JOBS.c.state)
    )
    depth = dict.fromkeys(QUEUE_STATES, 0)
    for state, count in (await session.execute(stmt)).all():
        depth[str(state)] = int(count)
    return depth


async def jobs_by_day(session: AsyncSession, *, since: datetime) -> dict[str, DayCounts]:
    """Jobs created per day, by their state now: ``{state: {day: n}}``."""
    day = day_of(session, JOBS.c.created_at)
    stmt = (
        select(JOBS.c.state, day, func.count())
        .where(JOBS.c.created_at >= since)
        .group_by(JOBS.c.state, day)
    )
    series: dict[str, DayCounts] = defaultdict(dict)
    for state, when, count in (await session.execute(stmt)).all():
        series[str(state)][str(when)] = int(count)
    return dict(series)


async def jobs_by_model(session: AsyncSession, *, since: datetime) -> dict[str, dict[str, int]]:
    """Jobs created since ``since`` by model and state: ``{model: {state: n}}``."""
    stmt = (
        select(JOBS.c.model, JOBS.c.state, func.count())
        .where(JOBS.c.created_at >= since)
        .group_by(JOBS.c.model, JOBS.c.state)
    )
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    for model, state, count in (await session.execute(stmt)).all():
        totals[str(model)][str(state)] = int(count)
    return dict(totals)


async def median_seconds_by_day(session: AsyncSession, *, since: datetime) -> dict[str, float]:
    """Median run time (start to finish) of the jobs that succeeded each day. Medians do not
    add up across groups, so the finished jobs' times are read (two timestamps a row)."""
    stmt = select(JOBS.c.started_at, JOBS.c.finished_at).where(
        JOBS.c.state == JobState.succeeded.value,
        JOBS.c.finished_at >= since,
        JOBS.c.started_at.is_not(None),
    )
    durations: dict[str, list[float]] = defaultdict(list)
    for started, finished in (await session.execute(stmt)).all():
        durations[finished.date().isoformat()].append((finished - started).total_seconds())
    return {day: statistics.median(values) for day, values in durations.items()}


async def active_users_by_day(session: AsyncSession, *, since: datetime) -> dict[str, set[int]]:
    """Users who submitted a job, by day."""
    day = day_of(session, JOBS.c.created_at)
    stmt = (
        select(day, JOBS.c.user_id).where(JOBS.c.created_at >= since).group_by(day, JOBS.c.user_id)
    )
    users: dict[str, set[int]] = defaultdict(set)
    for when, user_id in (await session.execute(stmt)).all():
        users[str(when)].add(int(user_id))
    return dict(users)
