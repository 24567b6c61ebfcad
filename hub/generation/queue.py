"""The durable job queue: claim with leases, settle, retry, cancel, positions and ETA.

Every function takes the caller's session (one transaction) and flushes, never commits. Each
state change is one conditional UPDATE (``WHERE job_id = ? AND state = ?`` and, for a running job,
``AND locked_by = <lease token>``), and the credits settlement rides in the same transaction, so a
job's reservation is charged or refunded exactly once whatever races happen.

Claiming (docs/jobs.md, ADR 0005):

* the claim transaction first bumps ``queue_control.claim_seq`` when a job is due (one
  statement; an idle poll matches no row and stays a read): that row lock serializes claim
  decisions across workers on Postgres (so the global and per-user caps hold exactly) and takes
  SQLite's single write lock up front (``BEGIN IMMEDIATE`` semantics);
* each job is then claimed by ONE ``UPDATE … WHERE job_id = (pick) RETURNING`` (:data:`_CLAIM`):
  the pick counts the caps (seeing this transaction's earlier claims), orders by priority, then
  fair share between users (fewest running jobs, then least recently served, then who queued
  first), FIFO within a user; on Postgres the job row is read with ``FOR UPDATE SKIP LOCKED``
  so a row being canceled is skipped, not waited on;
* a claim sets a lease (``locked_until``) with a fresh token in ``locked_by``; the worker renews
  it; :func:`reap_expired` re-queues jobs whose worker died (the claim counted an attempt).
"""

from __future__ import annotations

import heapq
import logging
import os
import random
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Table, and_, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.credits import service as credits_service
from hub.db import UTCDateTime, settings_of, utcnow
from hub.generation.models import Job, JobState, QueueControl

log = logging.getLogger(__name__)

JOBS: Table = Job.metadata.tables[Job.__tablename__]
QUEUE: Table = QueueControl.metadata.tables[QueueControl.__tablename__]
QUEUE_ID = 1

# Used for an ETA until a model has finished jobs to learn from.
DEFAULT_SECONDS_PER_STEP = 0.5
ETA_SAMPLE_JOBS = 20
# How many users a claim looks at before it gives up (all of them locked or capped).
CLAIM_USER_WINDOW = 20


# --- ids -----------------------------------------------------------------------------------------

_id_lock = threading.Lock()
_last_id_ms = 0
_id_seq = 0


def new_job_id() -> str:
    """A UUID in the version 7 layout: 48-bit millisecond time, a 12-bit per-process counter
    and random bits, so ids created later sort later (FIFO order survives equal timestamps)."""
    global _last_id_ms, _id_seq
    with _id_lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_id_ms:
            _id_seq += 1
            if _id_seq > 0xFFF:
                _last_id_ms += 1
                _id_seq = 0
            now_ms = _last_id_ms
        else:
            _id_seq = random.getrandbits(8)
        _last_id_ms = now_ms
        seq = _id_seq
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (now_ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand
    hexed = f"{value:032x}"
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def new_lease_token(worker_id: str) -> str:
    # Unique per claim: a late write from an earlier claim of the same job (same worker) can
    # never touch the current one.
    return f"{worker_id[:47]}/{secrets.token_hex(8)}"


# --- shared types --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRef:
    """What an event sink needs to route a job event (room stream, owner's personal stream)."""

    job_id: str
    user_id: int
    owner_id: int
    room_id: str | None
    batch_id: str | None
    model: str
    kind: str


def job_ref(job: Job) -> JobRef:
    return JobRef(
        job_id=job.job_id,
        user_id=job.user_id,
        owner_id=job.owner_id,
        room_id=job.room_id,
        batch_id=job.batch_id,
        model=job.model,
        kind=job.kind,
    )


@dataclass(frozen=True)
class ImageRef:
    """One produced image, as stored by the runner (the runner owns the pixels)."""

    key: str
    image_id: str | int | None = None
    url: str | None = None
    thumb_url: str | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    mime: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Outcome = Literal["succeeded", "retry", "failed", "canceled", "released", "requeued"]


@dataclass(frozen=True)
class Settled:
    job: Job
    outcome: Outcome


# --- helpers -------------------------------------------------------------------------------------


def _is_postgres(session: AsyncSession) -> bool:
    return bool(session.get_bind().dialect.name == "postgresql")


def _job(row: Any) -> Job:
    return Job(**row._mapping)


def _ts(value: datetime) -> Any:
    return bindparam(None, value, type_=UTCDateTime())


def retry_delay(
    attempts: int, *, base: float, cap: float, retry_after: float | None = None
) -> float:
    """Exponential backoff: ``base * 2 ** (attempts - 1)``, at least the upstream's hint, at most
    ``cap``."""
    delay = base * (2 ** max(0, attempts - 1))
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return float(min(delay, cap))


async def _update_job(
    session: AsyncSession, where: Sequence[Any], values: dict[str, Any]
) -> Job | None:
    stmt = update(JOBS).where(*where).values(**values).returning(*JOBS.c)
    row = (await session.execute(stmt)).first()
    return _job(row) if row else None


async def get_job(session: AsyncSession, job_id: str) -> Job | None:
    row = (await session.execute(select(JOBS).where(JOBS.c.job_id == job_id))).first()
    return _job(row) if row else None


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


# --- queue control -------------------------------------------------------------------------------


async def _ensure_queue_row(session: AsyncSession) -> None:
    values = {"queue_id": QUEUE_ID, "paused": False, "claim_seq": 0, "updated_at": utcnow()}
    insert = postgresql.insert if _is_postgres(session) else sqlite.insert
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


# --- claiming ------------------------------------------------------------------------------------


def _claim_stmt(*, postgres: bool) -> Any:
    """Claim one job in one statement; binds ``now``, ``cap`` (per user), ``max_running``,
    ``lease`` and ``until``.

    The pick is the first row, in claim order, of the join of queued jobs with the candidate
    users (priority, then fair share: fewest running, least recently served, first to queue;
    FIFO within a user). On Postgres ``FOR UPDATE SKIP LOCKED`` skips a row being canceled and
    moves on to the next one in that order. The caps are counted inside the statement, after the
    queue lock, so they include this transaction's earlier claims and every committed one."""
    now = bindparam("now", type_=UTCDateTime())
    q_jobs = JOBS.alias("qj")
    queued = (
        select(
            q_jobs.c.user_id,
            func.max(q_jobs.c.priority).label("top"),
            func.min(q_jobs.c.created_at).label("first_at"),
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
        running.label("running"),
        last_served.label("last_served"),
    ).subquery("u_all")
    candidates = (
        select(users)
        .where(users.c.running < bindparam("cap"))
        .order_by(
            users.c.top.desc(),
            users.c.running.asc(),
            users.c.last_served.asc().nulls_first(),
            users.c.first_at.asc(),
            users.c.user_id.asc(),
        )
        .limit(CLAIM_USER_WINDOW)
        .subquery("u")
    )
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
        .order_by(
            candidates.c.top.desc(),
            candidates.c.running.asc(),
            candidates.c.last_served.asc().nulls_first(),
            candidates.c.first_at.asc(),
            candidates.c.user_id.asc(),
            p.c.created_at,
            p.c.job_id,
        )
        .limit(1)
    )
    if postgres:
        pick = pick.with_for_update(skip_locked=True, of=p)
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


async def _any_claimable(session: AsyncSession, now: datetime) -> bool:
    j = JOBS.c
    stmt = (
        select(j.job_id).where(j.state == JobState.queued.value, j.next_attempt_at <= now).limit(1)
    )
    return (await session.execute(stmt)).first() is not None


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
    stmt = _CLAIM[_is_postgres(session)]
    params = {
        "now": now,
        "cap": settings.jobs_per_user_running,
        "max_running": settings.jobs_max_running,
        "until": now + timedelta(seconds=settings.job_lease_seconds),
    }
    claimed: list[Job] = []
    while len(claimed) < limit:
        # One round trip per job: pick (caps, fair share), lease and RETURNING in one UPDATE.
        row = (await session.execute(stmt, {**params, "lease": new_lease_token(worker_id)})).first()
        if row is None:
            break
        claimed.append(_job(row))
    return claimed


# --- while running -------------------------------------------------------------------------------


def _held_by(job_id: str, lease: str) -> list[Any]:
    j = JOBS.c
    return [j.job_id == job_id, j.locked_by == lease, j.state == JobState.running.value]


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
        .where(*_held_by(job_id, lease))
        .values(step=max(0, step), total_steps=max(0, total))
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


# --- settling ------------------------------------------------------------------------------------


def _finished(state: JobState, now: datetime) -> dict[str, Any]:
    return {
        "state": state.value,
        "finished_at": now,
        "locked_by": None,
        "locked_until": None,
    }


# Built once: the success path runs once per job (see _CLAIM).
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
    job = _job(row) if row else None
    if job is not None:
        await credits_service.charge_reservation(
            session, job_id=job_id, memo=f"Generation ({job.model})"
        )
    return job


async def _fail(
    session: AsyncSession, where: Sequence[Any], *, code: str, message: str, now: datetime
) -> Job | None:
    values = _finished(JobState.failed, now)
    values.update(error_code=code[:64], error_message=message[:1000])
    job = await _update_job(session, where, values)
    if job is not None:
        await credits_service.refund_reservation(
            session, job_id=job.job_id, memo="Generation failed"
        )
    return job


async def _cancel(session: AsyncSession, where: Sequence[Any], *, now: datetime) -> Job | None:
    values = _finished(JobState.canceled, now)
    values.update(cancel_requested=True)
    job = await _update_job(session, where, values)
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
    held = _held_by(job_id, lease)
    row = (await session.execute(select(JOBS).where(*held))).first()
    if row is None:
        return None
    current = _job(row)
    if current.cancel_requested:
        # The owner asked to stop it anyway: a cancel, not a failure (refunded either way).
        canceled = await _cancel(session, held, now=now)
        return Settled(canceled, "canceled") if canceled is not None else None
    if retryable and current.attempts < current.max_attempts:
        settings = settings_of(session)
        delay = retry_delay(
            current.attempts,
            base=settings.job_retry_base_seconds,
            cap=settings.job_retry_max_seconds,
            retry_after=retry_after,
        )
        job = await _update_job(
            session,
            held,
            {
                "state": JobState.queued.value,
                "next_attempt_at": now + timedelta(seconds=delay),
                "locked_by": None,
                "locked_until": None,
                "error_code": code[:64],
                "error_message": message[:1000],
            },
        )
        return Settled(job, "retry") if job is not None else None
    failed = await _fail(session, held, code=code, message=message, now=now)
    return Settled(failed, "failed") if failed is not None else None


async def finish_canceled(
    session: AsyncSession, *, job_id: str, lease: str, now: datetime | None = None
) -> Job | None:
    """A running job stopped because its owner canceled it: canceled + refund."""
    return await _cancel(session, _held_by(job_id, lease), now=now or utcnow())


async def release_job(session: AsyncSession, *, job_id: str, lease: str) -> Job | None:
    """Give a running job back to the queue (graceful worker stop): the attempt is not counted,
    because the job did nothing wrong."""
    j = JOBS.c
    return await _update_job(
        session,
        _held_by(job_id, lease),
        {
            "state": JobState.queued.value,
            "locked_by": None,
            "locked_until": None,
            "attempts": case((j.attempts > 0, j.attempts - 1), else_=0),
            "next_attempt_at": utcnow(),
        },
    )


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
    if _is_postgres(session):
        pick = pick.with_for_update(skip_locked=True)
    settled: list[Settled] = []
    settings = settings_of(session)
    for row in (await session.execute(pick)).all():
        expired = _job(row)
        where = [
            j.job_id == expired.job_id,
            j.state == JobState.running.value,
            j.locked_by == expired.locked_by,
            j.locked_until < now,
        ]
        if expired.cancel_requested:
            job = await _cancel(session, where, now=now)
            outcome: Outcome = "canceled"
        elif expired.attempts >= expired.max_attempts:
            job = await _fail(
                session,
                where,
                code="lease_expired",
                message="The worker running this job stopped responding too many times.",
                now=now,
            )
            outcome = "failed"
        else:
            delay = retry_delay(
                expired.attempts,
                base=settings.job_retry_base_seconds,
                cap=settings.job_retry_max_seconds,
            )
            job = await _update_job(
                session,
                where,
                {
                    "state": JobState.queued.value,
                    "next_attempt_at": now + timedelta(seconds=delay),
                    "locked_by": None,
                    "locked_until": None,
                    "error_code": "lease_expired",
                    "error_message": "The worker running this job stopped responding.",
                },
            )
            outcome = "requeued"
        if job is not None:
            settled.append(Settled(job, outcome))
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
    return await _update_job(
        session,
        [j.job_id == job_id, j.state == JobState.running.value],
        {"cancel_requested": True},
    )


# --- positions and ETA ---------------------------------------------------------------------------


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


async def queue_snapshot(
    session: AsyncSession, *, limit: int = 500, now: datetime | None = None
) -> QueueSnapshot:
    """Running jobs and the first ``limit`` queued jobs in expected start order, with 1-based
    positions and an ETA (seconds until each finishes) from recent step timings."""
    now = now or utcnow()
    j = JOBS.c
    control = await get_queue_control(session)
    running = [
        _job(r)
        for r in await session.execute(
            select(JOBS)
            .where(j.state == JobState.running.value)
            .order_by(j.claimed_at)
            .limit(limit)
        )
    ]
    queued = [
        _job(r)
        for r in await session.execute(
            select(JOBS)
            .where(j.state == JobState.queued.value)
            .order_by(j.priority.desc(), j.created_at, j.job_id)
            .limit(limit)
        )
    ]
    total_queued = await count_jobs(session, JobState.queued)
    users = {job.user_id for job in queued}
    last_served: dict[int, datetime] = {}
    if users:
        stmt = (
            select(j.user_id, func.max(j.claimed_at))
            .where(j.user_id.in_(users), j.claimed_at.is_not(None))
            .group_by(j.user_id)
        )
        for user_id, served in await session.execute(stmt):
            if served is not None:
                last_served[user_id] = served
    ordered = _fair_order(queued, running, last_served)
    snapshot = QueueSnapshot(
        paused=control.paused, running=running, queued=ordered, total_queued=total_queued
    )
    pace = await seconds_per_step(session, {job.model for job in running + ordered})
    settings = settings_of(session)
    parallel = max(1, min(settings.jobs_max_running, len(running) or 1))
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
    return snapshot


# --- cleanup -------------------------------------------------------------------------------------


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


# --- in-process wake-ups -------------------------------------------------------------------------


class QueueSignals:
    """In-process nudges so a worker in the same process reacts at once to an enqueue or a
    cancel instead of at its next poll. Other processes find out by polling; nothing depends on
    these for correctness."""

    def __init__(self) -> None:
        self._wake: list[Callable[[], None]] = []
        self._cancel: list[Callable[[str], None]] = []

    def subscribe(self, wake: Callable[[], None], cancel: Callable[[str], None]) -> None:
        self._wake.append(wake)
        self._cancel.append(cancel)

    def unsubscribe(self, wake: Callable[[], None], cancel: Callable[[str], None]) -> None:
        if wake in self._wake:
            self._wake.remove(wake)
        if cancel in self._cancel:
            self._cancel.remove(cancel)

    async def enqueued(self) -> None:
        for wake in list(self._wake):
            wake()

    def canceled(self, job_id: str) -> Callable[[], Any]:
        async def notify() -> None:
            for cancel in list(self._cancel):
                cancel(job_id)

        return notify


SIGNALS = QueueSignals()
