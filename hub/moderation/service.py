"""Moderation rules: reports, the review queue, hide/restore with a reason, pre-review approval,
trust levels and the prompt block-list (docs/moderation.md, ADR 0024).

The hidden state lives on each target's own row and is changed through its domain's service
(works, forum, collab, accounts); this module decides who may do what, keeps the queue, tells
the author why, and writes one audit entry per moderator action in the same transaction.
Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.roles import UserRole, require_role
from hub.accounts.trust import TrustLevel, set_trust_level, suspend_user, trust_level
from hub.accounts.users import actor_for, get_user
from hub.audit.service import record
from hub.collab.access import access_room, get_room, room_slug_of
from hub.collab.errors import RoomNotFound
from hub.collab.rooms import set_room_hidden
from hub.db import settings_of, utcnow
from hub.errors import BadRequest, Conflict, NotFound, ValidationFailed
from hub.forum.comments import get_comment, set_comment_hidden
from hub.forum.threads import get_thread, set_thread_hidden
from hub.forum.urls import comment_url, thread_url
from hub.generation import blocklist
from hub.moderation.models import Report, ReportState, Resolution, TargetType
from hub.moderation.schemas import (
    BlockedTermOut,
    ReportCreatedOut,
    ReportOut,
    ReportPage,
    ReportQuery,
    TargetOut,
    TrustOut,
)
from hub.notifications.service import NotificationKind, notify
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from hub.storage.backends import Storage
from hub.works.models import WorkStatus
from hub.works.service import get_work, set_work_hidden
from hub.works.views import work_url

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent

PRE_REVIEW_REASON = "New account: waiting for a moderator's approval."
_MAX_ID = 2**31 - 1


class ReportNotFound(NotFound):
    default_message = "No such report."


class TargetNotFound(NotFound):
    default_message = "Nothing to moderate there."


class ReportAlreadyResolved(Conflict):
    default_message = "This report was resolved already, another way."


@dataclass(frozen=True)
class Live:
    """What a hide touches beyond the database: the media backend (search hits show covers)
    and the rooms component (a hidden room's sockets close)."""

    storage: Storage | None
    rooms: RoomsComponent | None


def require_moderator(actor: Actor) -> None:
    require_role(actor, UserRole.MODERATOR, to="moderate")


# --- targets -------------------------------------------------------------------------------------


def _int_id(target_id: int | str) -> int:
    if isinstance(target_id, int):
        value = target_id
    elif target_id.isascii() and target_id.isdigit() and len(target_id) <= 10:
        value = int(target_id)
    else:
        raise TargetNotFound()
    if not 0 < value <= _MAX_ID:
        raise TargetNotFound()
    return value


async def _target(
    session: AsyncSession, target_type: str, target_id: int | str, *, reader: Actor | None
) -> TargetOut:
    """The target as moderation sees it; TargetNotFound when missing or deleted. With a
    ``reader`` (a reporter), also when that reader could not see it in the first place (a
    draft, a private room): hidden targets are found, since their hidden state is the answer."""
    if target_type == TargetType.room:
        slug = str(target_id)
        room = await get_room(session, slug)
        if room is None or room.state == "archived":
            raise TargetNotFound()
        if reader is not None:
            try:
                await access_room(session, reader, slug)
            except RoomNotFound:
                raise TargetNotFound() from None
        return TargetOut(
            target_type="room",
            target_id=slug,
            title=room.title,
            url=f"/r/{slug}",
            author_id=room.owner_id,
            hidden=room.hidden_at is not None,
            held=False,
            hidden_reason=room.hidden_reason,
        )
    key = _int_id(target_id)
    if target_type == TargetType.work:
        work = await get_work(session, key)
        if work is None or work.deleted_at is not None:
            raise TargetNotFound()
        drafted = work.status != WorkStatus.published and work.hidden_at is None
        if reader is not None and drafted and reader.user_id != work.author_id:
            raise TargetNotFound()
        return TargetOut(
            target_type="work",
            target_id=str(key),
            title=work.title,
            url=work_url(work),
            author_id=work.author_id,
            hidden=work.hidden_at is not None,
            held=work.held,
            hidden_reason=work.hidden_reason,
        )
    if target_type == TargetType.thread:
        thread = await get_thread(session, key)
        if thread is None:
            raise TargetNotFound()
        return TargetOut(
            target_type="thread",
            target_id=str(key),
            title=thread.title,
            url=thread_url(key, thread.slug),
            author_id=thread.author_id,
            hidden=thread.hidden_at is not None,
            held=thread.held,
            hidden_reason=thread.hidden_reason,
        )
    if target_type == TargetType.comment:
        comment = await get_comment(session, key)
        thread = await get_thread(session, comment.thread_id) if comment is not None else None
        if comment is None or thread is None:
            raise TargetNotFound()
        return TargetOut(
            target_type="comment",
            target_id=str(key),
            title=f"Comment on “{thread.title}”",
            url=comment_url(thread, key),
            author_id=comment.author_id,
            hidden=comment.hidden_at is not None,
            held=comment.held,
            hidden_reason=comment.hidden_reason,
        )
    if target_type == TargetType.user:
        user = await get_user(session, key)
        if user is None or not user.is_active:
            raise TargetNotFound()
        return TargetOut(
            target_type="user",
            target_id=str(key),
            title=f"{user.display_name} (@{user.username})",
            url=f"/u/{user.username}",
            author_id=key,
            hidden=user.suspended_at is not None,
            held=False,
            hidden_reason=user.suspended_reason,
        )
    raise TargetNotFound()


async def _set_hidden(
    session: AsyncSession,
    target: TargetOut,
    *,
    hidden: bool,
    reason: str | None,
    live: Live,
    held: bool = False,
) -> None:
    """Through the owning domain's service."""
    kind, ref = target.target_type, target.target_id
    if kind == "work":
        await set_work_hidden(
            session, int(ref), hidden=hidden, reason=reason, held=held, storage=live.storage
        )
    elif kind == "thread":
        await set_thread_hidden(session, int(ref), hidden=hidden, reason=reason, held=held)
    elif kind == "comment":
        await set_comment_hidden(session, int(ref), hidden=hidden, reason=reason, held=held)
    elif kind == "room":
        await set_room_hidden(session, ref, hidden=hidden, reason=reason, live=live.rooms)
    else:
        await suspend_user(session, user_id=int(ref), reason=reason if hidden else None)


def _state(target: TargetOut) -> dict[str, Any]:
    return {"hidden": target.hidden, "held": target.held, "reason": target.hidden_reason}


_WHAT = {
    "work": "work",
    "thread": "thread",
    "comment": "comment",
    "room": "room",
    "user": "account",
}


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
        target_id = await _room_slug(session, target_id)
    target = await _target(session, target_type, target_id, reader=actor)
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


async def _room_slug(session: AsyncSession, room_id: int) -> str:
    slug = await room_slug_of(session, room_id)
    if slug is None:
        raise TargetNotFound()
    return slug


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
        target: TargetOut | None = await _target(
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
        raise _reason_missing()
    target = await _target(session, target_type, target_id, reader=None)
    if target.hidden and not target.held:
        return target
    await _set_hidden(session, target, hidden=True, reason=reason, live=live)
    after = await _target(session, target_type, target_id, reader=None)
    closed = await _close_reports(session, actor, target, Resolution.hide, reason)
    await record(
        session,
        actor_id=actor.user_id,
        action=f"moderation.hide_{target.target_type}",
        target_type=target.target_type,
        target_id=target.target_id,
        before=_state(target),
        after={**_state(after), "reports": closed},
        reason=reason,
    )
    what = _WHAT[target.target_type]
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
    target = await _target(session, target_type, target_id, reader=None)
    if not target.hidden:
        return target
    await _set_hidden(session, target, hidden=False, reason=None, live=live)
    after = await _target(session, target_type, target_id, reader=None)
    resolution = Resolution.approve if target.held else Resolution.dismiss
    closed = await _close_reports(session, actor, target, resolution, reason)
    await record(
        session,
        actor_id=actor.user_id,
        action=f"moderation.restore_{target.target_type}",
        target_type=target.target_type,
        target_id=target.target_id,
        before=_state(target),
        after={**_state(after), "reports": closed},
        reason=reason or None,
    )
    what = _WHAT[target.target_type]
    verb = "approved" if target.held else "restored"
    await _tell_author(
        session, actor, after, text=f"Moderators {verb} your {what} “{after.title}”."
    )
    return after


def _reason_missing() -> ValidationFailed:
    return ValidationFailed(
        fields=[
            {
                "field": "reason",
                "message": "hiding needs a reason (its author reads it)",
                "type": "reason_required",
            }
        ]
    )


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
    row = await session.get(Report, report_id) if 0 < report_id <= _MAX_ID else None
    if row is None:
        raise ReportNotFound()
    resolution = Resolution(action)
    if row.state == ReportState.resolved:
        if row.resolution == resolution.value:
            return await _report_out(session, row)
        raise ReportAlreadyResolved(resolution=row.resolution)
    try:
        target = await _target(session, row.target_type, row.target_id, reader=None)
    except TargetNotFound:
        target = None
    if target is not None and resolution is Resolution.hide:
        await hide(
            session,
            actor,
            target_type=target.target_type,
            target_id=target.target_id,
            reason=reason,
            live=live,
        )
    elif target is not None and target.held:
        if resolution is Resolution.dismiss:
            raise Conflict("This post waits for approval: approve it or hide it.")
        await restore(
            session,
            actor,
            target_type=target.target_type,
            target_id=target.target_id,
            reason=reason,
            live=live,
        )
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


# --- trust levels --------------------------------------------------------------------------------


async def set_trust(
    session: AsyncSession, actor: Actor, user_id: int, *, level: str | None
) -> TrustOut:
    require_moderator(actor)
    user = await get_user(session, user_id) if 0 < user_id <= _MAX_ID else None
    if user is None:
        raise NotFound("No such user.")
    before = TrustLevel(user.trust_level).name if user.trust_level is not None else None
    await set_trust_level(
        session, user_id=user_id, level=TrustLevel[level] if level is not None else None
    )
    if before != level:
        await record(
            session,
            actor_id=actor.user_id,
            action="user.trust",
            target_type="user",
            target_id=user_id,
            before={"trust_level": before},
            after={"trust_level": level},
        )
    effective = await trust_level(session, actor_for(user, auth="session"))
    return TrustOut(user_id=user_id, level=level, effective=effective.name)  # type: ignore[arg-type]


# --- the block-list ------------------------------------------------------------------------------


def _term_out(row: Any) -> BlockedTermOut:
    return BlockedTermOut(
        term_id=row.term_id, term=row.term, created_by=row.created_by, created_at=row.created_at
    )


async def list_blocked_terms(session: AsyncSession, actor: Actor) -> list[BlockedTermOut]:
    require_moderator(actor)
    return [_term_out(row) for row in await blocklist.list_terms(session)]


async def block_term(
    session: AsyncSession, actor: Actor, *, term: str
) -> tuple[BlockedTermOut, bool]:
    """Adds a term (adding it again, in any case, is a no-op: the existing entry, False)."""
    require_moderator(actor)
    row, created = await blocklist.add_term(session, term=term, created_by=actor.user_id)
    if created:
        await record(
            session,
            actor_id=actor.user_id,
            action="blocklist.add",
            target_type="blocked_term",
            target_id=row.term_id or 0,
            after={"term": row.term},
        )
    return _term_out(row), created


async def unblock_term(session: AsyncSession, actor: Actor, term_id: int) -> None:
    require_moderator(actor)
    row = await blocklist.get_term(session, term_id) if 0 < term_id <= _MAX_ID else None
    if row is None:
        raise NotFound("No such blocked term.")
    await record(
        session,
        actor_id=actor.user_id,
        action="blocklist.remove",
        target_type="blocked_term",
        target_id=term_id,
        before={"term": row.term},
    )
    await blocklist.remove_term(session, row)


async def target_state(
    session: AsyncSession, actor: Actor, *, target_type: str, target_id: str
) -> TargetOut:
    require_moderator(actor)
    return await _target(session, target_type, target_id, reader=None)
