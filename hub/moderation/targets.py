"""What moderation acts on: a work, thread, comment, room or user, read and changed through its
own domain's service (the hidden state lives on the target's row)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.accounts.trust import suspend_user
from hub.accounts.users import get_user
from hub.collab.access import access_room, get_room, room_slug_of
from hub.collab.errors import RoomNotFound
from hub.collab.rooms import set_room_hidden
from hub.errors import NotFound
from hub.forum.comments import get_comment, set_comment_hidden
from hub.forum.threads import get_thread, set_thread_hidden
from hub.forum.urls import comment_url, thread_url
from hub.moderation.schemas import TargetOut
from hub.storage.backends import Storage
from hub.works.models import WorkStatus
from hub.works.service import get_work, set_work_hidden
from hub.works.views import work_url

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent

MAX_ID = 2**31 - 1
# How a notice names each kind of target.
WHAT = {"work": "work", "thread": "thread", "comment": "comment", "room": "room", "user": "account"}


class TargetNotFound(NotFound):
    default_message = "Nothing to moderate there."


@dataclass(frozen=True)
class Live:
    """What a hide touches beyond the database: the media backend (search hits show covers)
    and the rooms component (a hidden room's sockets close)."""

    storage: Storage | None
    rooms: RoomsComponent | None


def int_id(target_id: int | str) -> int:
    if isinstance(target_id, int):
        value = target_id
    elif target_id.isascii() and target_id.isdigit() and len(target_id) <= 10:
        value = int(target_id)
    else:
        raise TargetNotFound()
    if not 0 < value <= MAX_ID:
        raise TargetNotFound()
    return value


async def room_slug(session: AsyncSession, room_id: int) -> str:
    slug = await room_slug_of(session, room_id)
    if slug is None:
        raise TargetNotFound()
    return slug


def _out(kind: str, ref: object, title: str, url: str, author: int, row: Any) -> TargetOut:
    return TargetOut(
        target_type=kind,  # type: ignore[arg-type]
        target_id=str(ref),
        title=title,
        url=url,
        author_id=author,
        hidden=row.hidden_at is not None,
        held=bool(getattr(row, "held", False)),
        hidden_reason=row.hidden_reason,
    )


async def _room(session: AsyncSession, slug: str, reader: Actor | None) -> TargetOut:
    room = await get_room(session, slug)
    if room is None or room.state == "archived":
        raise TargetNotFound()
    if reader is not None:
        try:
            await access_room(session, reader, slug)
        except RoomNotFound:
            raise TargetNotFound() from None
    return _out("room", slug, room.title, f"/r/{slug}", room.owner_id, room)


async def _work(session: AsyncSession, key: int, reader: Actor | None) -> TargetOut:
    work = await get_work(session, key)
    if work is None or work.deleted_at is not None:
        raise TargetNotFound()
    drafted = work.status != WorkStatus.published and work.hidden_at is None
    if reader is not None and drafted and reader.user_id != work.author_id:
        raise TargetNotFound()
    return _out("work", key, work.title, work_url(work), work.author_id, work)


async def _thread(session: AsyncSession, key: int, _reader: Actor | None) -> TargetOut:
    thread = await get_thread(session, key)
    if thread is None:
        raise TargetNotFound()
    return _out("thread", key, thread.title, thread_url(key, thread.slug), thread.author_id, thread)


async def _comment(session: AsyncSession, key: int, _reader: Actor | None) -> TargetOut:
    comment = await get_comment(session, key)
    thread = await get_thread(session, comment.thread_id) if comment is not None else None
    if comment is None or thread is None:
        raise TargetNotFound()
    title = f"Comment on “{thread.title}”"
    return _out("comment", key, title, comment_url(thread, key), comment.author_id, comment)


async def _user(session: AsyncSession, key: int, _reader: Actor | None) -> TargetOut:
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


_BY_ID: dict[str, Callable[[AsyncSession, int, Actor | None], Awaitable[TargetOut]]] = {
    "work": _work,
    "thread": _thread,
    "comment": _comment,
    "user": _user,
}


async def find_target(
    session: AsyncSession, target_type: str, target_id: int | str, *, reader: Actor | None
) -> TargetOut:
    """The target as moderation sees it; TargetNotFound when missing or deleted. With a
    ``reader`` (a reporter), also when that reader could not see it in the first place (a
    draft, a private room): hidden targets are found, since their hidden state is the answer."""
    if target_type == "room":
        return await _room(session, str(target_id), reader)
    finder = _BY_ID.get(target_type)
    if finder is None:
        raise TargetNotFound()
    return await finder(session, int_id(target_id), reader)


async def set_hidden(
    session: AsyncSession,
    target: TargetOut,
    *,
    hidden: bool,
    reason: str | None,
    live: Live,
) -> None:
    """Through the owning domain's service."""
    kind, ref = target.target_type, target.target_id
    if kind == "work":
        await set_work_hidden(session, int(ref), hidden=hidden, reason=reason, storage=live.storage)
    elif kind == "thread":
        await set_thread_hidden(session, int(ref), hidden=hidden, reason=reason)
    elif kind == "comment":
        await set_comment_hidden(session, int(ref), hidden=hidden, reason=reason)
    elif kind == "room":
        await set_room_hidden(session, ref, hidden=hidden, reason=reason, live=live.rooms)
    else:
        await suspend_user(session, user_id=int(ref), reason=reason if hidden else None)


def state(target: TargetOut) -> dict[str, Any]:
    """The audit log's before/after of a target."""
    return {"hidden": target.hidden, "held": target.held, "reason": target.hidden_reason}
