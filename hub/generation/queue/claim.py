"""Claiming: the one-statement claim with caps and fair share, then the lease it sets.

Each job is claimed by ONE ``UPDATE … WHERE job_id = (pick) RETURNING`` (:data:`_CLAIM`), after
the claim lock (:func:`~hub.generation.queue.control.lock_queue`): the pick counts the caps
(seeing this transaction's earlier claims), orders by priority, then fair share between users
(fewest running jobs, then least recently served, then who queued first), FIFO within a user;
on Postgres the job row is read with ``FOR UPDATE SKIP LOCKED`` so a row being canceled is
skipped, not waited on. A claim sets a lease (``locked_until``) with a fresh token in
``locked_by``; the worker renews it (:mod:`~hub.generation.queue.leases`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Subquery, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub import site
from hub.db import UTCDateTime, settings_of, utcnow
from hub.generation.models import Job, JobState
from hub.generation.queue.control import lock_queue
from hub.generation.queue.ids import new_lease_token
from hub.generation.queue.rows import JOBS, is_postgres, row_to_job

# How many users a claim looks at before it gives up (all of them locked or capped).
CLAIM_USER_WINDOW = 20


def _fair_share_order(users: Any) -> list[Any]:
    """Priority, then fewest running, least recently served, first to queue (the columns of
    :func:`_candidate_users`)."""
    return [
        users.top.desc(),
        users.running.asc(),
        users.last_served.asc().nulls_first(),
        users.first_at.asc(),
        users.user_id.asc(),
    ]


def _candidate_users(now: BindParameter[datetime]) -> Subquery:
    """Users with a due queued job and fewer running than their cap (the largest
    ``running_cap`` of their queued jobs, else ``cap``), in fair-share order (the first
    :data:`CLAIM_USER_WINDOW` of them)."""
    q_jobs = JOBS.alias("qj")
    queued = (
        select(
            q_jobs.c.user_id,
            func.max(q_jobs.c.priority).label("top"),
            func.min(q_jobs.c.created_at).label("first_at"),
            # A member's jobs carry their higher cap (``running_cap``); others the default.
            func.max(func.coalesce(q_jobs.c.running_cap, bindparam("cap"))).label("cap"),
        )
        .where(q_jobs.c.state == JobState.queued.value, q_jobs.c.next_attempt_at <= now)
        .group_by(q_jobs.c.user_id)
        .subquery("q")
    )
    running_jobs = JOBS.alias("r")
    running = (
        select(func.count())
        .select_from(running_jobs)
        .where(
            running_jobs.c.user_id == queued.c.user_id,
            running_jobs.c.state == JobState.running.value,
        )
        .correlate(queued)
        .scalar_subquery()
    )
    served_jobs = JOBS.alias("s")
    last_served = (
        select(func.max(served_jobs.c.claimed_at))
        .where(served_jobs.c.user_id == queued.c.user_id)
        .correlate(queued)
        .scalar_subquery()
    )
    users = select(
        queued.c.user_id,
        queued.c.top,
        queued.c.first_at,
        queued.c.cap,
        running.label("running"),
        last_served.label("last_served"),
    ).subquery("u_all")
    return (
        select(users)
        .where(users.c.running < users.c.cap)
        .order_by(*_fair_share_order(users.c))
        .limit(CLAIM_USER_WINDOW)
        .subquery("u")
    )


def _pick(candidates: Subquery, now: BindParameter[datetime], *, postgres: bool) -> Any:
    """The job to claim: the candidates' top-priority jobs in fair-share order, FIFO within a
    user, while the global running count is below ``max_running``."""
    all_running = JOBS.alias("t")
    running_total = (
        select(func.count())
        .select_from(all_running)
        .where(all_running.c.state == JobState.running.value)
        .scalar_subquery()
    )
    p = JOBS.alias("p")
    pick = (
        select(p.c.job_id)
        .select_from(
            p.join(
                candidates,
                and_(p.c.user_id == candidates.c.user_id, p.c.priority == candidates.c.top),
            )
        )
        .where(
            p.c.state == JobState.queued.value,
            p.c.next_attempt_at <= now,
            running_total < bindparam("max_running"),
        )
        .order_by(*_fair_share_order(candidates.c), p.c.created_at, p.c.job_id)
        .limit(1)
    )
    if postgres:
        pick = pick.with_for_update(skip_locked=True, of=p)
    return pick


def _claim_stmt(*, postgres: bool) -> Any:
    """Claim one job in one statement; binds ``now``, ``cap`` (per user), ``max_running``,
    ``lease`` and ``until``.

    The pick is the first row, in claim order, of the join of queued jobs with the candidate
    users (priority, then fair share: fewest running, least recently served, first to queue;
    FIFO within a user). On Postgres ``FOR UPDATE SKIP LOCKED`` skips a row being canceled and
    moves on to the next one in that order. The caps are counted inside the statement, after the
    queue lock, so they include this transaction's earlier claims and every committed one."""
    now = bindparam("now", type_=UTCDateTime())
    pick = _pick(_candidate_users(now), now, postgres=postgres)
    j = JOBS.c
    return (
        update(JOBS)
        .where(j.job_id == pick.correlate(None).scalar_subquery(), j.state == JobState.queued.value)
        .values(
            state=JobState.running.value,
            locked_by=bindparam("lease"),
            locked_until=bindparam("until", type_=UTCDateTime()),
            attempts=j.attempts + 1,
            claimed_at=now,
            started_at=func.coalesce(j.started_at, now),
            step=0,
        )
        .returning(*JOBS.c)
    )


# Building the statement (aliased subqueries, correlated counts) costs more than running it
# (bench/queue.py): build it once per dialect.
_CLAIM = {True: _claim_stmt(postgres=True), False: _claim_stmt(postgres=False)}


async def claim_jobs(
    session: AsyncSession, *, worker_id: str, limit: int, now: datetime | None = None
) -> list[Job]:
    """Claim up to ``limit`` jobs for ``worker_id`` (each with its own lease token in
    ``locked_by``). A paused queue, the global cap and the per-user cap all claim nothing."""
    if limit <= 0:
        return []
    settings = settings_of(session)
    now = now or utcnow()
    paused = await lock_queue(session, now=now)
    if paused is None or paused:
        return []
    stmt = _CLAIM[is_postgres(session)]
    params = {
        "now": now,
        # The admins' run-time cap (hub.site, cached per process) wins over the environment's.
        "cap": (await site.current(session)).max_concurrent_jobs_per_user
        or settings.jobs_per_user_running,
        "max_running": settings.jobs_max_running,
        "until": now + timedelta(seconds=settings.job_lease_seconds),
    }
    claimed: list[Job] = []
    while len(claimed) < limit:
        # One round trip per job: pick (caps, fair share), lease and RETURNING in one UPDATE.
        row = (await session.execute(stmt, {**params, "lease": new_lease_token(worker_id)})).first()
        if row is None:
            break
        claimed.append(row_to_job(row))
    return claimed
