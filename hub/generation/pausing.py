"""Pausing and resuming the queue (admins): the pause is a database row, so workers on every
process stop claiming (hub.generation.queue.control); each change is audited."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.roles import UserRole, require_role
from hub.audit import service as audit
from hub.generation import queue
from hub.generation.models import JobState
from hub.generation.queue import QueueSignals
from hub.generation.schemas import QueueStatusOut
from hub.generation.service import JobActor
from hub.outbox import after_commit


async def _queue_status(session: AsyncSession) -> QueueStatusOut:
    control = await queue.get_queue_control(session)
    return QueueStatusOut(
        paused=control.paused,
        paused_at=control.paused_at,
        paused_by=control.paused_by,
        running=await queue.count_jobs(session, JobState.running),
        queued=await queue.count_jobs(session, JobState.queued),
    )


async def pause_queue(session: AsyncSession, actor: JobActor) -> QueueStatusOut:
    """Stop workers from starting jobs (running ones finish). Admins only."""
    require_role(actor, UserRole.ADMIN, to="pause the queue")
    await _set_paused(session, actor, paused=True)
    return await _queue_status(session)


async def _set_paused(session: AsyncSession, actor: JobActor, *, paused: bool) -> None:
    before = (await queue.get_queue_control(session)).paused
    await queue.set_paused(session, paused=paused, actor_id=actor.user_id)
    if before != paused:
        await audit.record(
            session,
            actor_id=actor.user_id,
            action="queue.pause" if paused else "queue.resume",
            target_type="queue",
            target_id=queue.QUEUE_ID,
            before={"paused": before},
            after={"paused": paused},
        )


async def resume_queue(
    session: AsyncSession, actor: JobActor, *, signals: QueueSignals | None = None
) -> QueueStatusOut:
    require_role(actor, UserRole.ADMIN, to="resume the queue")
    await _set_paused(session, actor, paused=False)
    if signals is not None:
        after_commit(session, signals.enqueued)
    return await _queue_status(session)
