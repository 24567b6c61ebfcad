"""Job API rules: submit (validate + reserve credits), read, list, cancel, queue view, pause.

The queue mechanics (claim, leases, settlement) live in :mod:`hub.generation.queue`; this module
is what routes and other domains (rooms) call with an actor.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.roles import UserRole, has_role
from hub.audit import service as audit
from hub.collab.access import access_room
from hub.credits import service as credits_service
from hub.credits.schemas import BalanceOut
from hub.db import settings_of, utcnow
from hub.errors import BadRequest, InsufficientCredits
from hub.generation import queue
from hub.generation.access import check_model
from hub.generation.blocklist import check_prompts
from hub.generation.errors import (
    JobAlreadyFinished,
    JobNotFound,
    ModelNotAllowed,
    QueueLimitReached,
    UnknownModel,
)
from hub.generation.models import Job, JobBatch, JobKind, JobState
from hub.generation.providers.registry import OFFLINE_PRESETS, ModelPreset
from hub.generation.queue import JOBS, JobRef, QueueSignals, job_ref
from hub.generation.schemas import (
    JobCreateIn,
    JobListQuery,
    JobOut,
    JobPage,
    JobSubmitOut,
    QueueItemOut,
    QueueOut,
    job_out,
)
from hub.outbox import after_commit
from hub.pagination import decode_cursor, encode_cursor
from hub.payments import service as payments_service
from hub.payments.service import Perks
from hub.settings import Settings
from hub.storage import service as storage_service

log = logging.getLogger(__name__)

DEFAULT_SIZE = 512
DEFAULT_STRENGTH = 0.6
QUEUE_VIEW_LIMIT = 200

JobEventSink = Callable[[JobRef, str, dict[str, Any]], Awaitable[None]]
# (session, room_id) -> may the actor see the room; it reads through the caller's session.
RoomCheck = Callable[[AsyncSession, str], Awaitable[bool]]


class JobActor(Protocol):
    """What the job service needs to know about the caller (``hub.accounts.deps.Actor``)."""

    @property
    def user_id(self) -> int: ...

    @property
    def role(self) -> str: ...


def default_presets() -> dict[str, ModelPreset]:
    return {preset.id: preset for preset in OFFLINE_PRESETS}


# --- events ---------------------------------------------------------------------------------------


def _emit_after_commit(
    session: AsyncSession, sink: JobEventSink | None, ref: JobRef, kind: str, data: dict[str, Any]
) -> None:
    if sink is None:
        return

    async def send() -> None:
        await sink(ref, kind, data)

    after_commit(session, send)


# --- submit --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    preset: ModelPreset
    kind: JobKind
    prompts: list[str]
    params: dict[str, Any]
    cost_per_job: int


def _plan(request: JobCreateIn, actor: JobActor, presets: Mapping[str, ModelPreset]) -> _Plan:
    preset = presets.get(request.model)
    if preset is None:
        raise UnknownModel(
            f"There is no model {request.model!r}.",
            fields=[{"field": "model", "message": "unknown model", "type": "unknown_model"}],
        )
    if not preset.allows(actor.role):
        raise ModelNotAllowed(f"Your account cannot use {preset.label}.")
    width = request.width or DEFAULT_SIZE
    height = request.height or DEFAULT_SIZE
    if max(width, height) > preset.max_size:
        raise BadRequest(
            f"{preset.label} makes images up to {preset.max_size} pixels per side.",
            max_size=preset.max_size,
        )
    params: dict[str, Any] = {
        "width": width,
        "height": height,
        "steps": request.steps or preset.default_steps,
        "seed": request.seed if request.seed is not None else secrets.randbelow(2**32),
        "count": request.count,
    }
    if request.source_image_key is not None:
        params["strength"] = request.strength if request.strength is not None else DEFAULT_STRENGTH
    kind = {
        "text2img": JobKind.text2img,
        "img2img": JobKind.img2img,
        "batch": JobKind.batch_member,
    }[request.kind]
    return _Plan(
        preset=preset,
        kind=kind,
        prompts=request.prompt_list(),
        params=params,
        cost_per_job=preset.cost_per_image * request.count,
    )


@dataclass(frozen=True)
class Submission:
    jobs: list[Job]
    batch_id: str | None
    cost: int
    balance: BalanceOut

    def out(self, positions: Mapping[str, int] | None = None) -> JobSubmitOut:
        positions = positions or {}
        return JobSubmitOut(
            jobs=[job_out(job, position=positions.get(job.job_id)) for job in self.jobs],
            batch_id=self.batch_id,
            cost=self.cost,
            balance=self.balance,
        )


async def _check_limits(
    session: AsyncSession, actor: JobActor, plan: _Plan, settings: Settings
) -> None:
    """The block-list (PromptBlocked 422; negative prompts are not checked: they name what must
    not be drawn), the model's access rule (ModelNotAllowed), the batch size cap and the owner's
    queued-jobs cap (BadRequest, QueueLimitReached)."""
    await check_prompts(session, plan.prompts)
    await check_model(session, plan.preset, actor)
    if len(plan.prompts) > settings.job_batch_max_prompts:
        raise BadRequest(
            f"A batch takes at most {settings.job_batch_max_prompts} prompts.",
            max_prompts=settings.job_batch_max_prompts,
        )
    queued = await queue.count_queued_by_owner(session, actor.user_id)
    # Members may queue more (HUB_MEMBERSHIP_JOBS_QUEUED).
    limit = (await payments_service.perks_for(session, actor.user_id)).jobs_queued
    if queued + len(plan.prompts) > limit:
        raise QueueLimitReached(
            f"You can have at most {limit} queued jobs.",
            queued=queued,
            limit=limit,
        )


def _new_job(
    actor: JobActor,
    request: JobCreateIn,
    plan: _Plan,
    settings: Settings,
    prompt: str,
    *,
    payer: int,
    batch_id: str | None,
    priority: int,
    perks: Perks,
) -> Job:
    """A queued job; "VIP first": the payer's membership (``perks``) lifts its priority and its
    running cap (docs/payments.md)."""
    return Job(
        job_id=queue.new_job_id(),
        user_id=payer,
        owner_id=actor.user_id,
        room_id=request.room_id,
        kind=plan.kind.value,
        batch_id=batch_id,
        model=plan.preset.id,
        prompt=prompt,
        negative_prompt=request.negative_prompt,
        params=dict(plan.params),
        source_image_key=request.source_image_key,
        priority=max(priority, perks.priority),
        running_cap=perks.running_cap,
        state=JobState.queued.value,
        max_attempts=settings.job_max_attempts,
        next_attempt_at=utcnow(),
        cost=plan.cost_per_job,
        total_steps=int(plan.params["steps"]) * request.count,
        created_at=utcnow(),
    )


async def _reserve(
    session: AsyncSession, actor: JobActor, job: Job, *, plan: _Plan, reserved: int
) -> None:
    """Reserve ``job``'s credits from its payer. ``reserved`` is what this submission already
    reserved, so that a refusal states the whole submission's price against the whole
    balance."""
    if job.cost <= 0:
        return
    try:
        await credits_service.reserve_credits(
            session,
            user_id=job.user_id,
            amount=job.cost,
            job_id=job.job_id,
            memo=f"Generation ({plan.preset.id})",
            actor_id=actor.user_id,
        )
    except InsufficientCredits as exc:
        available = int(exc.details.get("balance", 0)) + reserved
        total_cost = plan.cost_per_job * len(plan.prompts)
        raise InsufficientCredits(
            f"This needs {total_cost} credits; you have {available}.",
            balance=available,
            required=total_cost,
        ) from None


async def _enqueue(
    session: AsyncSession,
    jobs: list[Job],
    *,
    on_event: JobEventSink | None,
    signals: QueueSignals | None,
) -> None:
    """After commit: ``job.queued`` with each job's position, then the in-process nudge."""
    if on_event is not None:
        snapshot = await queue.queue_snapshot(session)
        for job in jobs:
            data = {"position": snapshot.positions.get(job.job_id)}
            _emit_after_commit(session, on_event, job_ref(job), "job.queued", data)
    if signals is not None:
        # After the job.queued events: a worker in this process that wakes first would
        # otherwise announce job.started before the room heard of the job.
        after_commit(session, signals.enqueued)


def _record_batch(session: AsyncSession, owner_id: int, batch_id: str | None, jobs: int) -> None:
    """A ``kind: batch`` request is listed, followed and canceled like a named batch
    (:mod:`hub.generation.batches`)."""
    if batch_id is not None:
        session.add(JobBatch(batch_id=batch_id, owner_id=owner_id, job_count=jobs))


async def submit_job(
    session: AsyncSession,
    actor: JobActor,
    *,
    request: JobCreateIn,
    presets: Mapping[str, ModelPreset] | None = None,
    payer_id: int | None = None,
    priority: int = 0,
    on_event: JobEventSink | None = None,
    check_source: bool = False,
    check_room: bool = False,
    signals: QueueSignals | None = None,
) -> Submission:
    """Queue one job (text2img/img2img) or one job per prompt (batch), reserving their credits
    from ``payer_id`` (default: the actor) in the same transaction.

    With ``check_source`` (every API route sets it) an img2img source must be one of the actor's
    uploads or library images, by upload id, image id or key (ImageNotFound 404 otherwise); the
    job keeps the storage key it resolves to. With ``check_room`` (``POST /api/v1/jobs``) a
    ``room_id`` must name a room the actor may see (RoomNotFound 404 otherwise, the same answer
    for a room that does not exist and someone else's private room). Raises UnknownModel (422),
    ModelNotAllowed (403), BadRequest (size above the model's cap), QueueLimitReached (429) or
    InsufficientCredits (402, ``details: {balance, required}``); on any of them nothing is queued
    and nothing reserved. ``signals`` (the in-process worker's, if any) is nudged after commit.
    """
    settings = settings_of(session)
    plan = _plan(request, actor, presets if presets is not None else default_presets())
    if check_room and request.room_id is not None:
        await access_room(session, actor, request.room_id)  # type: ignore[arg-type]
    if check_source and request.source_image_key is not None:
        key = await storage_service.access_source_key(
            session,
            actor,  # type: ignore[arg-type]
            request.source_image_key,
        )
        request = request.model_copy(update={"source_image_key": key})
    await _check_limits(session, actor, plan, settings)
    payer = payer_id if payer_id is not None else actor.user_id
    perks = await payments_service.perks_for(session, payer)
    batch_id = queue.new_job_id() if plan.kind is JobKind.batch_member else None
    total_cost = plan.cost_per_job * len(plan.prompts)
    jobs: list[Job] = []
    for prompt in plan.prompts:
        job = _new_job(
            actor, request, plan, settings, prompt, payer=payer, batch_id=batch_id,
            priority=priority, perks=perks,
        )  # fmt: skip
        await _reserve(session, actor, job, plan=plan, reserved=sum(j.cost for j in jobs))
        session.add(job)
        jobs.append(job)
    _record_batch(session, actor.user_id, batch_id, len(jobs))
    await session.flush()
    balance = await credits_service.get_balance(session, payer)
    await _enqueue(session, jobs, on_event=on_event, signals=signals)
    return Submission(jobs=jobs, batch_id=batch_id, cost=total_cost, balance=balance)


# --- read ----------------------------------------------------------------------------------------


_JOB_ID = re.compile(r"^[0-9a-f-]{1,36}$")


async def _find_job(session: AsyncSession, job_id: str) -> Job | None:
    # Anything that cannot be an id is simply not found (and never reaches the database:
    # Postgres refuses NUL characters in text with an error).
    if not _JOB_ID.match(job_id):
        return None
    return await queue.get_job(session, job_id)


async def access_job(session: AsyncSession, actor: JobActor, job_id: str) -> Job:
    """The job if the actor pressed generate, pays for it or is an admin; JobNotFound (404)
    otherwise, so job ids of other people cannot be probed."""
    job = await _find_job(session, job_id)
    if job is None or not (
        job.owner_id == actor.user_id
        or job.user_id == actor.user_id
        or has_role(actor, UserRole.ADMIN)
    ):
        raise JobNotFound()
    return job


async def get_job_view(session: AsyncSession, actor: JobActor, job_id: str) -> JobOut:
    job = await access_job(session, actor, job_id)
    if job.state not in (JobState.queued.value, JobState.running.value):
        return job_out(job)
    snapshot = await queue.queue_snapshot(session)
    return job_out(
        job, position=snapshot.positions.get(job.job_id), eta_s=snapshot.eta_s.get(job.job_id)
    )


async def list_jobs(session: AsyncSession, actor: JobActor, *, query: JobListQuery) -> JobPage:
    """The actor's jobs (those they pressed generate for), newest first."""
    j = JOBS.c
    stmt = select(JOBS).where(j.owner_id == actor.user_id)
    if query.state is not None:
        stmt = stmt.where(j.state == query.state)
    if query.batch_id is not None:
        stmt = stmt.where(j.batch_id == query.batch_id)
    if query.cursor:
        created, job_id = decode_cursor(query.cursor)
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id) or created.tzinfo is None:
            raise BadRequest("The cursor is not valid; start again without it.")
        stmt = stmt.where(tuple_(j.created_at, j.job_id) < (created, job_id))
    stmt = stmt.order_by(j.created_at.desc(), j.job_id.desc()).limit(query.limit + 1)
    rows = (await session.execute(stmt)).all()
    jobs = [Job(**row._mapping) for row in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = encode_cursor(jobs[-1].created_at, jobs[-1].job_id)
    return JobPage(items=[job_out(job) for job in jobs], next_cursor=next_cursor)


# --- cancel --------------------------------------------------------------------------------------

_CANCELABLE = (JobState.queued.value, JobState.running.value)


async def cancel_job(
    session: AsyncSession,
    actor: JobActor,
    job_id: str,
    *,
    on_event: JobEventSink | None = None,
    signals: QueueSignals | None = None,
    reason: str | None = None,
) -> Job:
    """Cancel a job the actor pressed generate for (admins: any job; others get 404).

    Queued: canceled and refunded now. Running: flagged; its worker stops the runner and
    refunds (at once when ``signals`` reaches it). Already canceled: returned as is. Succeeded
    or failed: JobAlreadyFinished (409).
    """
    job = await _find_job(session, job_id)
    if job is None or not (job.owner_id == actor.user_id or has_role(actor, UserRole.ADMIN)):
        raise JobNotFound()
    if job.owner_id != actor.user_id and job.state in _CANCELABLE:
        # An admin canceling someone else's job: in this transaction, like the cancel itself.
        await audit.record(
            session,
            actor_id=actor.user_id,
            action="job.cancel",
            target_type="job",
            target_id=job_id,
            before={"state": job.state, "owner_id": job.owner_id},
            after={"state": "canceled"},
            reason=reason,
        )
    for _ in range(2):  # the state may change under us once (claimed meanwhile)
        if job.state == JobState.queued.value:
            canceled = await queue.cancel_queued(session, job_id)
            if canceled is not None:
                _emit_after_commit(session, on_event, job_ref(canceled), "job.canceled", {})
                return canceled
        elif job.state == JobState.running.value:
            flagged = await queue.request_cancel(session, job_id)
            if flagged is not None:
                if signals is not None:
                    after_commit(session, signals.canceled(job_id))
                return flagged
        elif job.state == JobState.canceled.value:
            return job
        else:
            raise JobAlreadyFinished(f"The job has already {job.state}.", state=job.state)
        refreshed = await queue.get_job(session, job_id)
        if refreshed is None:
            raise JobNotFound()
        job = refreshed
    raise JobAlreadyFinished(f"The job has already {job.state}.", state=job.state)


# --- queue view ----------------------------------------------------------------------------------


async def get_queue(
    session: AsyncSession, actor: JobActor, *, can_see_room: RoomCheck | None = None
) -> QueueOut:
    """Running jobs, then queued jobs in expected start order with positions and ETAs. Other
    people's prompts and rooms are hidden unless ``can_see_room(session, room_id)`` says the
    actor is in that room (admins see everything)."""
    snapshot = await queue.queue_snapshot(session, limit=QUEUE_VIEW_LIMIT)
    visible_rooms: dict[str, bool] = {}

    async def visible(job: Job) -> bool:
        if (
            job.owner_id == actor.user_id
            or job.user_id == actor.user_id
            or has_role(actor, UserRole.ADMIN)
        ):
            return True
        if job.room_id is None or can_see_room is None:
            return False
        if job.room_id not in visible_rooms:
            visible_rooms[job.room_id] = bool(await can_see_room(session, job.room_id))
        return visible_rooms[job.room_id]

    items: list[QueueItemOut] = []
    for job in [*snapshot.running, *snapshot.queued]:
        shown = await visible(job)
        items.append(
            QueueItemOut(
                job_id=job.job_id,
                state=job.state,
                position=snapshot.positions.get(job.job_id),
                model=job.model,
                mine=job.owner_id == actor.user_id,
                prompt=job.prompt if shown else None,
                room_id=job.room_id if shown else None,
                step=job.step,
                total_steps=job.total_steps,
                eta_s=snapshot.eta_s.get(job.job_id),
            )
        )
    return QueueOut(
        paused=snapshot.paused,
        running=len(snapshot.running),
        queued=snapshot.total_queued,
        items=items,
    )
