"""The queue as people see it: expected start order, 1-based positions and ETAs.

The order mirrors the claim (:mod:`~hub.generation.queue.claim`); the ETA comes from a moving
average of seconds per step over each model's latest finished jobs, spread over the slots.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import settings_of, utcnow
from hub.generation.models import Job, JobState
from hub.generation.queue.control import get_queue_control
from hub.generation.queue.rows import JOBS, count_jobs, row_to_job

# Used for an ETA until a model has finished jobs to learn from.
DEFAULT_SECONDS_PER_STEP = 0.5
ETA_SAMPLE_JOBS = 20


async def seconds_per_step(session: AsyncSession, models: Iterable[str]) -> dict[str, float]:
    """Moving average of seconds per step for each model over its latest finished jobs."""
    j = JOBS.c
    found: dict[str, float] = {}
    for model in sorted(set(models)):
        stmt = (
            select(j.claimed_at, j.finished_at, j.total_steps)
            .where(
                j.model == model,
                j.state == JobState.succeeded.value,
                j.finished_at.is_not(None),
                j.total_steps > 0,
            )
            .order_by(j.finished_at.desc())
            .limit(ETA_SAMPLE_JOBS)
        )
        seconds = 0.0
        steps = 0
        for row in await session.execute(stmt):
            if row.claimed_at is None:
                continue
            seconds += max(0.0, (row.finished_at - row.claimed_at).total_seconds())
            steps += row.total_steps
        found[model] = seconds / steps if steps and seconds > 0 else DEFAULT_SECONDS_PER_STEP
    return found


@dataclass
class QueueSnapshot:
    paused: bool
    running: list[Job]
    queued: list[Job]  # in the order they are expected to start
    total_queued: int
    positions: dict[str, int] = field(default_factory=dict)
    eta_s: dict[str, float] = field(default_factory=dict)


def _fair_order(
    queued: list[Job], running: list[Job], last_served: dict[int, datetime]
) -> list[Job]:
    """The order the claimer is expected to follow: priority first; within a priority, round
    robin over users (fewest running, least recently served, first to queue), FIFO per user."""
    running_per_user: dict[int, int] = defaultdict(int)
    for job in running:
        running_per_user[job.user_id] += 1
    by_priority: dict[int, dict[int, list[Job]]] = defaultdict(lambda: defaultdict(list))
    for job in queued:
        by_priority[job.priority][job.user_id].append(job)
    ordered: list[Job] = []
    floor = datetime.min.replace(tzinfo=UTC)
    for priority in sorted(by_priority, reverse=True):
        per_user = by_priority[priority]
        users = sorted(
            per_user,
            key=lambda u: (
                running_per_user[u],
                last_served.get(u, floor),
                min((job.created_at, job.job_id) for job in per_user[u]),
            ),
        )
        lists = [sorted(per_user[u], key=lambda job: (job.created_at, job.job_id)) for u in users]
        for depth in range(max(len(items) for items in lists)):
            ordered.extend(items[depth] for items in lists if depth < len(items))
    return ordered


def _job_steps(job: Job) -> int:
    if job.total_steps > 0:
        return job.total_steps
    steps = job.params.get("steps", 0) if isinstance(job.params, dict) else 0
    return max(1, int(steps or 1))


async def _jobs_in(
    session: AsyncSession, state: JobState, order: Iterable[Any], limit: int
) -> list[Job]:
    stmt = select(JOBS).where(JOBS.c.state == state.value).order_by(*order).limit(limit)
    return [row_to_job(row) for row in await session.execute(stmt)]


async def _last_served(session: AsyncSession, users: set[int]) -> dict[int, datetime]:
    if not users:
        return {}
    j = JOBS.c
    stmt = (
        select(j.user_id, func.max(j.claimed_at))
        .where(j.user_id.in_(users), j.claimed_at.is_not(None))
        .group_by(j.user_id)
    )
    return {
        user_id: served for user_id, served in await session.execute(stmt) if served is not None
    }


def _estimate(
    snapshot: QueueSnapshot, pace: dict[str, float], *, max_running: int, now: datetime
) -> None:
    """Fill positions and ETAs: running jobs finish their remaining steps; each queued job
    starts in the first slot to free up (or when its retry backoff ends) in expected order."""
    running, ordered = snapshot.running, snapshot.queued
    parallel = max(1, min(max_running, len(running) or 1))
    slots: list[float] = []
    for job in running:
        remaining = max(0, _job_steps(job) - job.step) * pace[job.model]
        snapshot.eta_s[job.job_id] = round(remaining, 1)
        slots.append(remaining)
    slots.extend([0.0] * (parallel - len(slots)))
    heapq.heapify(slots)
    for position, job in enumerate(ordered, start=1):
        snapshot.positions[job.job_id] = position
        wait = max(0.0, (job.next_attempt_at - now).total_seconds())
        start = max(heapq.heappop(slots), wait)
        finish = start + _job_steps(job) * pace[job.model]
        heapq.heappush(slots, finish)
        snapshot.eta_s[job.job_id] = round(finish, 1)


async def queue_snapshot(
    session: AsyncSession, *, limit: int = 500, now: datetime | None = None
) -> QueueSnapshot:
    """Running jobs and the first ``limit`` queued jobs in expected start order, with 1-based
    positions and an ETA (seconds until each finishes) from recent step timings."""
    now = now or utcnow()
    j = JOBS.c
    control = await get_queue_control(session)
    running = await _jobs_in(session, JobState.running, [j.claimed_at], limit)
    queued = await _jobs_in(
        session, JobState.queued, [j.priority.desc(), j.created_at, j.job_id], limit
    )
    total_queued = await count_jobs(session, JobState.queued)
    last_served = await _last_served(session, {job.user_id for job in queued})
    ordered = _fair_order(queued, running, last_served)
    snapshot = QueueSnapshot(
        paused=control.paused, running=running, queued=ordered, total_queued=total_queued
    )
    pace = await seconds_per_step(session, {job.model for job in running + ordered})
    max_running = settings_of(session).jobs_max_running
    _estimate(snapshot, pace, max_running=max_running, now=now)
    return snapshot
