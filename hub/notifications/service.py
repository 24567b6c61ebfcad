"""Notifications: stored notices to one user, their unread count, marking them read, and live
delivery of both on the user's stream (``hub.notifications.stream``).

Other domains call :func:`notify`, :func:`notify_many` and :func:`notify_mentions` inside their
own transaction: the notice is stored with what caused it (a rollback takes it away) and sent
live after the commit. Nobody is told about their own action. A like or a follow that is undone
and done again does not notify twice: those kinds are sent once per actor and subject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.users import get_user, get_user_by_username, get_users, user_id_of
from hub.db import utcnow
from hub.errors import BadRequest, NotFound
from hub.notifications.models import Notification
from hub.notifications.schemas import (
    LiveNotification,
    LiveRead,
    NotificationActor,
    NotificationOut,
    NotificationPage,
    ReadOut,
)
from hub.notifications.stream import send_after_commit
from hub.pagination import decode_cursor, encode_cursor


class NotificationKind(StrEnum):
    reply = "reply"
    mention = "mention"
    like = "like"
    follow = "follow"
    new_work = "new_work"
    job_finished = "job_finished"
    remix = "remix"  # someone published a remix of your work
    moderation = "moderation"  # a moderator hid (or approved) something of yours


# Sent once per (recipient, actor, subject): toggling a like or a follow must not spam.
ONCE_PER_SUBJECT = frozenset({NotificationKind.like, NotificationKind.follow})
TEXT_MAX = 500
URL_MAX = 1000
# One body mentions at most this many people: more is a spam pattern, not a conversation.
MAX_MENTIONS = 20
# "@name" where the name is a whole username (3-32 letters, digits, underscores) and the "@" does
# not continue a word, an email address or a path ("ada@example.com", "/@ada" notify nobody).
MENTION_RE = re.compile(r"(?<![A-Za-z0-9_@./+-])@([A-Za-z0-9_]{3,32})(?![A-Za-z0-9_])")
# Fan-out queries take at most this many ids per IN list.
_CHUNK = 500


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _check_link(url: str) -> str:
    """A notice links to a path on this hub only: never another site ("//evil", "https://..."),
    never a script ("javascript:")."""
    if (
        not url.startswith("/")
        or url.startswith("//")
        or "\\" in url
        or len(url) > URL_MAX
        or any(ord(c) < 0x20 or c == "\x7f" for c in url)
    ):
        raise ValueError(f"a notification links to a path on this hub, not {url[:80]!r}")
    return url


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


# --- writing -------------------------------------------------------------------------------------


async def notify(
    session: AsyncSession,
    *,
    recipient_id: int,
    kind: NotificationKind,
    actor_id: int | None,
    text: str,
    url: str,
    subject_type: str,
    subject_id: str,
) -> None:
    """Store a notice for ``recipient_id`` and send it live after the commit. Nothing when the
    recipient is the actor, or (likes, follows) was told about this subject by this actor."""
    await notify_many(
        session,
        [recipient_id],
        kind=kind,
        actor_id=actor_id,
        text=text,
        url=url,
        subject_type=subject_type,
        subject_id=subject_id,
    )


async def _already_told(
    session: AsyncSession,
    recipients: Sequence[int],
    *,
    kind: NotificationKind,
    actor_id: int,
    subject_type: str,
    subject_id: str,
) -> set[int]:
    told: set[int] = set()
    for chunk in _chunks(recipients):
        stmt = select(col(Notification.recipient_id)).where(
            col(Notification.recipient_id).in_(chunk),
            col(Notification.subject_type) == subject_type,
            col(Notification.subject_id) == subject_id,
            col(Notification.kind) == kind.value,
            col(Notification.actor_id) == actor_id,
        )
        told.update(await session.scalars(stmt))
    return told


async def notify_many(
    session: AsyncSession,
    recipient_ids: Iterable[int],
    *,
    kind: NotificationKind,
    actor_id: int | None,
    text: str,
    url: str,
    subject_type: str,
    subject_id: str,
) -> int:
    """:func:`notify` for many recipients at once (a new work to every follower); returns how
    many notices were stored."""
    kind = NotificationKind(kind)
    url = _check_link(url)
    unique = set(recipient_ids)
    unique.discard(actor_id)  # type: ignore[arg-type]
    recipients = sorted(unique)
    if recipients and actor_id is not None and kind in ONCE_PER_SUBJECT:
        told = await _already_told(
            session,
            recipients,
            kind=kind,
            actor_id=actor_id,
            subject_type=subject_type,
            subject_id=subject_id,
        )
        recipients = [r for r in recipients if r not in told]
    if not recipients:
        return 0
    now = utcnow()
    rows = [
        Notification(
            recipient_id=recipient,
            kind=kind.value,
            actor_id=actor_id,
            text=_clip(text),
            url=url,
            subject_type=subject_type[:32],
            subject_id=str(subject_id)[:64],
            created_at=now,
        )
        for recipient in recipients
    ]
    session.add_all(rows)
    await session.flush()
    await _send_live(session, rows, actor_id)
    return len(rows)


async def _send_live(
    session: AsyncSession, rows: Sequence[Notification], actor_id: int | None
) -> None:
    """Each new notice to its recipient's stream after the commit, with their unread count."""
    counts = await unread_counts(session, [row.recipient_id for row in rows])
    actors = await _actors(session, [actor_id] if actor_id is not None else [])
    messages: list[tuple[int, BaseModel]] = [
        (
            row.recipient_id,
            LiveNotification(
                notification=_out(row, actors), unread_count=counts.get(row.recipient_id, 0)
            ),
        )
        for row in rows
    ]
    send_after_commit(session, messages)


def mentioned_usernames(body: str) -> list[str]:
    """The distinct usernames ``@mentioned`` in ``body`` (case-insensitive, first spelling
    kept), in order, at most :data:`MAX_MENTIONS`."""
    seen: dict[str, str] = {}
    for match in MENTION_RE.finditer(body):
        name = match.group(1)
        seen.setdefault(name.lower(), name)
        if len(seen) >= MAX_MENTIONS:
            break
    return list(seen.values())


async def notify_mentions(
    session: AsyncSession,
    *,
    body: str,
    actor_id: int,
    url: str,
    subject_type: str,
    subject_id: str,
    exclude: Iterable[int] = (),
) -> set[int]:
    """Notify each existing, active user ``@mentioned`` in ``body`` once (not the actor, not
    ``exclude``: say, the author already told about the reply); returns their ids."""
    _check_link(url)
    skip = {actor_id, *exclude}
    wanted: set[int] = set()
    for name in mentioned_usernames(body):
        user = await get_user_by_username(session, name)
        if user is not None and user.is_active and user_id_of(user) not in skip:
            wanted.add(user_id_of(user))
    if not wanted:
        return set()
    author = await get_user(session, actor_id)
    who = f"@{author.username}" if author is not None else "Someone"
    await notify_many(
        session,
        wanted,
        kind=NotificationKind.mention,
        actor_id=actor_id,
        text=f"{who} mentioned you",
        url=url,
        subject_type=subject_type,
        subject_id=subject_id,
    )
    return wanted


# --- reading -------------------------------------------------------------------------------------


async def _actors(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, NotificationActor]:
    users = await get_users(session, user_ids)
    return {
        uid: NotificationActor(
            user_id=uid,
            username=u.username,
            display_name=u.display_name,
            avatar_url=u.avatar_url,
        )
        for uid, u in users.items()
    }


def _out(row: Notification, actors: dict[int, NotificationActor]) -> NotificationOut:
    if row.notification_id is None:  # pragma: no cover - only flushed rows get here
        raise RuntimeError("notification row is not flushed")
    return NotificationOut(
        notification_id=row.notification_id,
        kind=row.kind,
        text=row.text,
        url=row.url,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        actor=actors.get(row.actor_id) if row.actor_id is not None else None,
        created_at=row.created_at,
        read_at=row.read_at,
    )


async def unread_count(session: AsyncSession, user_id: int) -> int:
    return (await unread_counts(session, [user_id])).get(user_id, 0)


async def unread_counts(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, int]:
    """Unread notices per user, for many users at once (users with none are left out)."""
    found: dict[int, int] = {}
    for chunk in _chunks(sorted(set(user_ids))):
        stmt = (
            select(col(Notification.recipient_id), func.count())
            .where(col(Notification.recipient_id).in_(chunk), col(Notification.read_at).is_(None))
            .group_by(col(Notification.recipient_id))
        )
        found.update({int(uid): int(n) for uid, n in (await session.execute(stmt)).all()})
    return found


def _after(cursor: str) -> Any:
    created, notification_id = decode_cursor(cursor)
    if (
        not isinstance(notification_id, int)
        or isinstance(notification_id, bool)
        or created.tzinfo is None
    ):
        raise BadRequest("The cursor is not valid; start again without it.")
    return tuple_(col(Notification.created_at), col(Notification.notification_id)) < (
        created,
        notification_id,
    )


async def list_notifications(
    session: AsyncSession,
    actor: Actor,
    *,
    cursor: str | None = None,
    limit: int = 20,
    unread: bool = False,
) -> NotificationPage:
    """The actor's notices, newest first, cursor-paged on (created_at, id), with the unread
    count of all of them."""
    stmt = select(Notification).where(col(Notification.recipient_id) == actor.user_id)
    if unread:
        stmt = stmt.where(col(Notification.read_at).is_(None))
    if cursor:
        stmt = stmt.where(_after(cursor))
    stmt = stmt.order_by(
        col(Notification.created_at).desc(), col(Notification.notification_id).desc()
    ).limit(limit + 1)
    rows = list(await session.scalars(stmt))
    page = rows[:limit]
    actors = await _actors(session, {r.actor_id for r in page if r.actor_id is not None})
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last.created_at, last.notification_id)
    return NotificationPage(
        items=[_out(r, actors) for r in page],
        unread_count=await unread_count(session, actor.user_id),
        next_cursor=next_cursor,
    )


# --- marking read --------------------------------------------------------------------------------


async def mark_read(session: AsyncSession, actor: Actor, notification_id: int) -> ReadOut:
    """Mark one of the actor's notices read (again: no change). 404 for anyone else's."""
    row = await session.get(Notification, notification_id)
    if row is None or row.recipient_id != actor.user_id:
        raise NotFound("No such notification.")
    result = await session.execute(
        update(Notification)
        .where(
            col(Notification.notification_id) == notification_id,
            col(Notification.read_at).is_(None),
        )
        .values(read_at=utcnow())
    )
    marked = int(getattr(result, "rowcount", 0) or 0)
    return await _after_read(session, actor, marked, [notification_id])


async def mark_all_read(session: AsyncSession, actor: Actor) -> ReadOut:
    """Mark every unread notice of the actor read."""
    result = await session.execute(
        update(Notification)
        .where(
            col(Notification.recipient_id) == actor.user_id,
            col(Notification.read_at).is_(None),
        )
        .values(read_at=utcnow())
    )
    marked = int(getattr(result, "rowcount", 0) or 0)
    return await _after_read(session, actor, marked, None)


async def _after_read(
    session: AsyncSession, actor: Actor, marked: int, ids: list[int] | None
) -> ReadOut:
    count = await unread_count(session, actor.user_id)
    if marked:
        # The user's other pages and devices update their bell too.
        live = LiveRead(notification_ids=ids, unread_count=count)
        send_after_commit(session, [(actor.user_id, live)])
    return ReadOut(marked=marked, unread_count=count)
