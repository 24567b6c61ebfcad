"""Moderation rules: reports, the review queue, hide/restore with a reason, pre-review approval,
(docs/moderation.md, ADR 0024). Targets are in :mod:`hub.moderation.targets`, trust levels
and the block-list in :mod:`hub.moderation.staff`.

The hidden state lives on each target's own row and is changed through its domain's service
(works, forum, collab, accounts); this module decides who may do what, keeps the queue, tells
the author why, and writes one audit entry per moderator action in the same transaction.
Services flush and never commit.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.roles import UserRole, require_role
from hub.audit.service import record
from hub.db import settings_of, utcnow
from hub.errors import BadRequest, Conflict, NotFound, ValidationFailed
from hub.moderation.models import Report, ReportState, Resolution, TargetType
from hub.moderation.schemas import (
    ReportCreatedOut,
    ReportOut,
    ReportPage,
    ReportQuery,
    TargetOut,
)
from hub.moderation.targets import (
    MAX_ID,
    WHAT,
    Live,
    TargetNotFound,
    find_target,
    room_slug,
    set_hidden,
    state,
)
from hub.notifications.service import NotificationKind, notify
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter

__all__ = ["Live", "TargetNotFound"]

PRE_REVIEW_REASON = "New account: waiting for a moderator's approval."


class ReportNotFound(NotFound):
    default_message = "No such report."


class ReportAlreadyResolved(Conflict):
    default_message = "This report was resolved already, another way."


def require_moderator(actor: Actor) -> None:
    require_role(actor, UserRole.MODERATOR, to="moderate")


async def _tell_author(
    session: AsyncSession, actor: Actor, target: TargetOut, *, text: str
) -> None:
    if target.author_id is None:
        return
    await notify(
        session,
        recipient_id=target.author_id,
        kind=NotificationKind.moderation,
        actor_id=actor.user_id,
        text=text[:500],
        url=target.url or "/",
        subject_type=target.target_type,
        subject_id=target.target_id,
    )


# --- reports -------------------------------------------------------------------------------------


async def _open_reports(session: AsyncSession, target: TargetOut) -> list[Report]:
    stmt = select(Report).where(
        col(Report.target_type) == target.target_type,
        col(Report.target_id) == target.target_id,
        col(Report.state) == ReportState.open.value,
    )
    return list(await session.scalars(stmt.order_by(col(Report.report_id))))


async def report(
    session: AsyncSession,
    actor: Actor,
    *,
    target_type: str,
    target_id: int | str,
    reason: str,
    limiter: RateLimiter | None,
) -> ReportCreatedOut:
    """Queues a report. Idempotent: a target hidden already queues nothing, and a reporter's
    second open report of one target is the first one. 404 for targets the reporter cannot see,
    429 past ``HUB_RATE_LIMIT_REPORT``."""
    if limiter is not None:
        await limiter.hit(settings_of(session).rate_limit_report, "report", str(actor.user_id))
    if target_type == TargetType.room and isinstance(target_id, int):
        target_id = await room_slug(session, target_id)
    target = await find_target(session, target_type, target_id, reader=actor)
    if target.hidden and not target.held:
        return ReportCreatedOut(report_id=None, created=False, target=target)
    mine = [r for r in await _open_reports(session, target) if r.reporter_id == actor.user_id]
    if mine:
        return ReportCreatedOut(report_id=mine[0].report_id, created=False, target=target)
    row = Report(
        reporter_id=actor.user_id,
        target_type=target.target_type,
        target_id=target.target_id,
        reason=reason,
    )
    session.add(row)
    await session.flush()
    return ReportCreatedOut(report_id=row.report_id, created=True, target=target)


async def queue_held(session: AsyncSession, target_type: str, target_id: int) -> None:
    """A new account's post was held (pre-review): it goes on the queue as an item without a
    reporter."""
    session.add(
        Report(
            reporter_id=None,
            target_type=target_type,
            target_id=str(target_id),
            reason=PRE_REVIEW_REASON,
        )
    )
    await session.flush()


async def _report_out(session: AsyncSession, row: Report) -> ReportOut:
    try:
        target: TargetOut | None = await find_target(
            session, row.target_type, row.target_id, reader=None
        )
    except TargetNotFound:
        target = None
    return ReportOut(
        report_id=row.report_id or 0,
        kind="report" if row.reporter_id is not None else "pre_review",
        reporter_id=row.reporter_id,
        reason=row.reason,
        state=row.state,  # type: ignore[arg-type]
        resolution=row.resolution,  # type: ignore[arg-type]
        resolution_reason=row.resolution_reason,
        resolved_by=row.resolved_by,
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        target=target,
    )


def _cursor_id(cursor: str) -> int:
    _at, report_id = decode_cursor(cursor)
    if not isinstance(report_id, int) or isinstance(report_id, bool):
        raise BadRequest("The cursor is not valid; start again without it.")
    return report_id


async def list_reports(session: AsyncSession, actor: Actor, query: ReportQuery) -> ReportPage:
    """The queue: open reports oldest first (resolved ones newest first), by id cursor."""
    require_moderator(actor)
    stmt = select(Report).where(col(Report.state) == query.state)
    if query.target_type is not None:
        stmt = stmt.where(col(Report.target_type) == query.target_type)
    ascending = query.state == ReportState.open
    if query.cursor:
        last = _cursor_id(query.cursor)
        stmt = stmt.where(
            col(Report.report_id) > last if ascending else col(Report.report_id) < last
        )
    order = col(Report.report_id) if ascending else col(Report.report_id).desc()
    rows = list(await session.scalars(stmt.order_by(order).limit(query.limit + 1)))
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = encode_cursor(page[-1].created_at, page[-1].report_id)
    return ReportPage(items=[await _report_out(session, r) for r in page], next_cursor=next_cursor)


async def _close_reports(
    session: AsyncSession,
    actor: Actor,
    target: TargetOut,
    resolution: Resolution,
    reason: str | None,
) -> list[int]:
    """Resolves every open report of ``target`` (the queue shows a target once it is dealt
    with, whichever report a moderator opened)."""
    rows = await _open_reports(session, target)
    ids = [r.report_id for r in rows if r.report_id is not None]
    if ids:
        await session.execute(
            update(Report)
            .where(col(Report.report_id).in_(ids))
            .values(
                state=ReportState.resolved.value,
                resolution=resolution.value,
                resolution_reason=reason or None,
                resolved_by=actor.user_id,
                resolved_at=utcnow(),
            )
            .execution_options(synchronize_session="fetch")
        )
    return ids


# --- hide, restore, approve ----------------------------------------------------------------------


async def hide(
    session: AsyncSession,
    actor: Actor,
    *,
    target_type: str,
    target_id: str,
    reason: str,
    live: Live,
) -> TargetOut:
    """Hides the target with ``reason`` (shown to its author, who is notified); its open
    reports are resolved. Hiding a hidden target changes nothing (no entry, no notice)."""
    require_moderator(actor)
    if not reason:
        raise reason_missing()
    target = await find_target(session, target_type, target_id, reader=None)
    if target.hidden and not target.held:
        return target
    await set_hidden(session, target, hidden=True, reason=reason, live=live)
    after = await find_target(session, target_type, target_id, reader=None)
    closed = await _close_reports(session, actor, target, Resolution.hide, reason)
    await record(
        session,
        actor_id=actor.user_id,
        action=f"moderation.hide_{target.target_type}",
        target_type=target.target_type,
        target_id=target.target_id,
        before=state(target),
        after={**state(after), "reports": closed},
        reason=reason,
    )
    what = WHAT[target.target_type]
    await _tell_author(
        session, actor, after, text=f"Moderators hid your {what} “{target.title}”: {reason}"
    )
    return after


async def restore(
    session: AsyncSession,
    actor: Actor,
    *,
    target_type: str,
    target_id: str,
    reason: str,
    live: Live,
) -> TargetOut:
    """Shows a hidden (or held) target again; its author is told. Idempotent."""
    require_moderator(actor)
    target = await find_target(session, target_type, target_id, reader=None)
    if not target.hidden:
        return target
    await set_hidden(session, target, hidden=False, reason=None, live=live)
    after = await find_target(session, target_type, target_id, reader=None)
    resolution = Resolution.approve if target.held else Resolution.dismiss
    closed = await _close_reports(session, actor, target, resolution, reason)
    await record(
        session,
        actor_id=actor.user_id,
        action=f"moderation.restore_{target.target_type}",
        target_type=target.target_type,
        target_id=target.target_id,
        before=state(target),
        after={**state(after), "reports": closed},
        reason=reason or None,
    )
    what = WHAT[target.target_type]
    verb = "approved" if target.held else "restored"
    await _tell_author(
        session, actor, after, text=f"Moderators {verb} your {what} “{after.title}”."
    )
    return after


def reason_missing() -> ValidationFailed:
    return ValidationFailed(
        fields=[
            {
                "field": "reason",
                "message": "hiding needs a reason (its author reads it)",
                "type": "reason_required",
            }
        ]
    )


async def _act_on(
    session: AsyncSession,
    actor: Actor,
    target: TargetOut,
    resolution: Resolution,
    *,
    reason: str,
    live: Live,
) -> None:
    """What a resolution does to the report's target."""
    where = {"target_type": target.target_type, "target_id": target.target_id}
    if resolution is Resolution.hide:
        await hide(session, actor, **where, reason=reason, live=live)
    elif target.held:
        if resolution is Resolution.dismiss:
            raise Conflict("This post waits for approval: approve it or hide it.")
        await restore(session, actor, **where, reason=reason, live=live)


async def resolve(
    session: AsyncSession,
    actor: Actor,
    report_id: int,
    *,
    action: str,
    reason: str,
    live: Live,
) -> ReportOut:
    """``hide`` hides the target (as :func:`hide`), ``approve`` releases a held post (and is a
    dismissal otherwise), ``dismiss`` leaves the target as it is; every open report of the
    target is resolved with it. Resolving a resolved report the same way again is a no-op;
    another way is 409. Dismissing a held post is 409: approve or hide it."""
    require_moderator(actor)
    row = await session.get(Report, report_id) if 0 < report_id <= MAX_ID else None
    if row is None:
        raise ReportNotFound()
    resolution = Resolution(action)
    if resolution is Resolution.hide and not reason:
        raise reason_missing()
    if row.state == ReportState.resolved:
        if row.resolution == resolution.value:
            return await _report_out(session, row)
        raise ReportAlreadyResolved(resolution=row.resolution)
    try:
        target = await find_target(session, row.target_type, row.target_id, reader=None)
    except TargetNotFound:
        target = None
    if target is not None:
        await _act_on(session, actor, target, resolution, reason=reason, live=live)
    # Whatever the target's state, this report (and its siblings) are now resolved.
    if target is not None:
        await _close_reports(session, actor, target, resolution, reason)
    if row.state == ReportState.open:
        row.state, row.resolution = ReportState.resolved.value, resolution.value
        row.resolution_reason, row.resolved_by = reason or None, actor.user_id
        row.resolved_at = utcnow()
    await session.flush()
    await session.refresh(row)
    await record(
        session,
        actor_id=actor.user_id,
        action="moderation.resolve_report",
        target_type="report",
        target_id=report_id,
        before={"state": "open"},
        after={"state": "resolved", "resolution": resolution.value},
        reason=reason or None,
    )
    return await _report_out(session, row)
