"""Named batches: several prompts, each run a number of times, queued together and followed and
canceled as one (a batch from the prompt library; a ``kind: batch`` request is one too).

A batch is a ``job_batches`` row; its jobs carry its ``batch_id``. What the batch has done is
counted from its jobs (one grouped query), so it can never disagree with them. The whole batch
is reserved in the submitting transaction or nothing is (402 with the whole batch's price).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.roles import UserRole, has_role
from hub.db import settings_of, utcnow
from hub.errors import BadRequest, InsufficientCredits
from hub.generation import queue
from hub.generation.access import check_model
from hub.generation.blocklist import check_prompts
from hub.generation.errors import BatchNotFound, JobAlreadyFinished, QueueLimitReached
from hub.generation.models import Job, JobBatch, JobKind, JobState
from hub.generation.providers.registry import ModelPreset
from hub.generation.queue import JOBS, QueueSignals
from hub.generation.schemas import BatchListQuery, BatchOut, BatchPage, JobCreateIn
from hub.generation.service import (
    JobActor,
    JobEventSink,
    _enqueue,
    _new_job,
    _plan,
    _reserve,
    cancel_job,
    default_presets,
)
from hub.pagination import decode_cursor, encode_cursor
from hub.payments import service as payments_service

BATCHES = JobBatch.metadata.tables[JobBatch.__tablename__]


@dataclass(frozen=True)
class BatchRequest:
    """One line of a batch: a text2img request, run ``runs`` times (each with its own seed
    unless the request fixes one)."""

    request: JobCreateIn
    runs: int


# --- submit --------------------------------------------------------------------------------------


async def _check_size(session: AsyncSession, actor: JobActor, total: int) -> None:
    settings = settings_of(session)
    if total > settings.job_batch_max_jobs:
        raise BadRequest(
            f"A batch runs at most {settings.job_batch_max_jobs} jobs; this one has {total}.",
            max_jobs=settings.job_batch_max_jobs,
        )
    queued = await queue.count_queued_by_owner(session, actor.user_id)
    limit = (await payments_service.perks_for(session, actor.user_id)).jobs_queued
    if queued + total > limit:
        raise QueueLimitReached(
            f"You can have at most {limit} queued jobs.",
            queued=queued,
            limit=limit,
        )


async def submit_batch(
    session: AsyncSession,
    actor: JobActor,
    *,
    name: str,
    lines: Sequence[BatchRequest],
    presets: Mapping[str, ModelPreset] | None = None,
    on_event: JobEventSink | None = None,
    signals: QueueSignals | None = None,
) -> BatchOut:
    """Queue every run of every line as one job of a new named batch, paid by the actor.
    Raises what :func:`hub.generation.service.submit_job` raises (422 unknown model, 403, 400
    size) for the line at fault, BadRequest past ``HUB_JOB_BATCH_MAX_JOBS``, QueueLimitReached
    (429), InsufficientCredits (402, the whole batch's price); nothing is queued then."""
    presets = presets if presets is not None else default_presets()
    settings = settings_of(session)
    await _check_size(session, actor, sum(line.runs for line in lines))
    batch_id = queue.new_job_id()
    # "VIP first": a member's batch jobs get the membership's priority and running cap.
    perks = await payments_service.perks_for(session, actor.user_id)
    planned = [
        (line.request, _plan(line.request, actor, presets))
        for line in lines
        for _run in range(line.runs)
    ]
    await check_prompts(session, [line.request.prompt or "" for line in lines])
    for preset in {plan.preset.id: plan.preset for _request, plan in planned}.values():
        await check_model(session, preset, actor)
    price = sum(plan.cost_per_job for _request, plan in planned)
    jobs: list[Job] = []
    for request, plan in planned:
        job = _new_job(
            actor, request, plan, settings, request.prompt or "", payer=actor.user_id,
            batch_id=batch_id, priority=0, perks=perks,
        )  # fmt: skip
        job.kind = JobKind.batch_member.value
        try:
            await _reserve(session, actor, job, plan=plan, reserved=sum(j.cost for j in jobs))
        except InsufficientCredits as exc:
            available = int(exc.details.get("balance", 0))
            raise InsufficientCredits(
                f"This batch needs {price} credits; you have {available}.",
                balance=available,
                required=price,
            ) from None
        session.add(job)
        jobs.append(job)
    session.add(JobBatch(batch_id=batch_id, owner_id=actor.user_id, name=name, job_count=len(jobs)))
    await session.flush()
    await _enqueue(session, jobs, on_event=on_event, signals=signals)
    return (await _views(session, [await _get(session, batch_id)]))[0]


# --- read ----------------------------------------------------------------------------------------


async def _get(session: AsyncSession, batch_id: str) -> JobBatch:
    row = (await session.execute(select(BATCHES).where(BATCHES.c.batch_id == batch_id))).first()
    if row is None:
        raise BatchNotFound()
    return JobBatch(**row._mapping)


async def access_batch(session: AsyncSession, actor: JobActor, batch_id: str) -> JobBatch:
    """The batch if the actor submitted it (or is an admin); BatchNotFound (404) otherwise."""
    if not 0 < len(batch_id) <= 36 or not all(c in "0123456789abcdef-" for c in batch_id):
        raise BatchNotFound()
    batch = await _get(session, batch_id)
    if batch.owner_id != actor.user_id and not has_role(actor, UserRole.ADMIN):
        raise BatchNotFound()
    return batch


def _view(batch: JobBatch, counts: Mapping[str, tuple[int, int, int]]) -> BatchOut:
    by_state = {state: counts.get(state.value, (0, 0, 0)) for state in JobState}
    total_steps = sum(steps for _n, _step, steps in by_state.values())
    done = sum(
        steps if state in (JobState.succeeded, JobState.failed, JobState.canceled) else step
        for state, (_n, step, steps) in by_state.items()
    )
    active = by_state[JobState.queued][0] + by_state[JobState.running][0]
    state = "canceled" if batch.canceled_at else ("active" if active else "finished")
    return BatchOut(
        batch_id=batch.batch_id,
        name=batch.name,
        state=state,  # type: ignore[arg-type]
        total=sum(n for n, _step, _steps in by_state.values()),
        queued=by_state[JobState.queued][0],
        running=by_state[JobState.running][0],
        succeeded=by_state[JobState.succeeded][0],
        failed=by_state[JobState.failed][0],
        canceled=by_state[JobState.canceled][0],
        progress=round(done / total_steps, 4) if total_steps else 0.0,
        created_at=batch.created_at,
        canceled_at=batch.canceled_at,
    )


async def _views(session: AsyncSession, batches: list[JobBatch]) -> list[BatchOut]:
    """Each batch with its jobs counted by state, in one query."""
    if not batches:
        return []
    j = JOBS.c
    stmt = (
        select(j.batch_id, j.state, func.count(), func.sum(j.step), func.sum(j.total_steps))
        .where(j.batch_id.in_([b.batch_id for b in batches]))
        .group_by(j.batch_id, j.state)
    )
    counts: dict[str, dict[str, tuple[int, int, int]]] = {}
    for batch_id, state, n, step, steps in await session.execute(stmt):
        counts.setdefault(batch_id, {})[state] = (int(n), int(step or 0), int(steps or 0))
    return [_view(b, counts.get(b.batch_id, {})) for b in batches]


async def read_batch(session: AsyncSession, actor: JobActor, batch_id: str) -> BatchOut:
    return (await _views(session, [await access_batch(session, actor, batch_id)]))[0]


async def list_batches(
    session: AsyncSession, actor: JobActor, *, query: BatchListQuery
) -> BatchPage:
    """The actor's batches, newest first, cursor-paged on ``(created_at, batch_id)``."""
    b = BATCHES.c
    stmt = select(BATCHES).where(b.owner_id == actor.user_id)
    if query.cursor:
        created, batch_id = decode_cursor(query.cursor)
        if not isinstance(batch_id, str) or created.tzinfo is None:
            raise BadRequest("The cursor is not valid; start again without it.")
        stmt = stmt.where(
            or_(b.created_at < created, and_(b.created_at == created, b.batch_id < batch_id))
        )
    stmt = stmt.order_by(b.created_at.desc(), b.batch_id.desc()).limit(query.limit + 1)
    rows = [JobBatch(**row._mapping) for row in (await session.execute(stmt)).all()]
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].batch_id) if more else None
    return BatchPage(items=await _views(session, rows), next_cursor=next_cursor)


# --- cancel --------------------------------------------------------------------------------------


async def cancel_batch(
    session: AsyncSession,
    actor: JobActor,
    batch_id: str,
    *,
    on_event: JobEventSink | None = None,
    signals: QueueSignals | None = None,
) -> BatchOut:
    """Cancel every job of the batch that has not finished (queued ones are refunded now,
    running ones stop and are refunded by their worker). Idempotent; finished jobs stay."""
    batch = await access_batch(session, actor, batch_id)
    j = JOBS.c
    open_jobs = select(j.job_id).where(
        j.batch_id == batch_id, j.state.in_([JobState.queued.value, JobState.running.value])
    )
    for job_id in list((await session.execute(open_jobs)).scalars()):
        try:
            # The batch's jobs are its owner's, so whoever may see the batch may cancel them.
            await cancel_job(session, actor, job_id, on_event=on_event, signals=signals)
        except JobAlreadyFinished:
            continue  # it finished meanwhile: it stays as it ended
    if batch.canceled_at is None:
        now: datetime = utcnow()
        await session.execute(
            BATCHES.update().where(BATCHES.c.batch_id == batch_id).values(canceled_at=now)
        )
        batch.canceled_at = now
    return (await _views(session, [batch]))[0]
