"""Who sees a room and with which role: one rule for the API, the pages and the sockets.

* members have their role (owner, editor, viewer);
* archived rooms exist for their owner only; private rooms for their members only (everyone else
  gets 404, whether the room exists or not);
* public and unlisted rooms admit any signed-in user as a viewer; visitors who are not signed in
  may watch a public room whose owner allows it, and get 401 elsewhere;
* closed rooms stay readable but accept no sockets, invites or members (409 / 4410);
* rooms hidden by moderators likewise, and they leave every list (hub.moderation).

Other domains call :func:`access_room`, :func:`can_see_room`, :func:`room_visibility`,
:func:`room_membership`, :func:`access_room_member`,
:func:`get_room` and :func:`recheck_sockets` (docs/collab.md, "Layout").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.deps import Actor
from hub.collab.errors import NotRoomMember, NotRoomOwner, RoomClosed, RoomNotFound
from hub.collab.models import RoomMember, RoomRecord, RoomStatus, Visibility
from hub.errors import Unauthenticated
from rooms.types import Role, is_valid_room_id

# Who outranks whom: an invite never lowers a member, and access_room checks at_least.
RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}


@dataclass(frozen=True)
class RoomAccess:
    room: RoomRecord
    room_id: int
    role: Role
    member: RoomMember | None


def row_id(value: int | None) -> int:
    """Primary keys are set once a row is flushed; None here is a bug, not bad input."""
    if value is None:
        raise RuntimeError("row has no primary key yet")
    return value


def _plausible_slug(slug: str) -> bool:
    # Slugs are generated from a safe alphabet; anything else (NUL bytes, which Postgres refuses
    # in text, or 10 kB of junk) cannot name a room, so it is a 404 without a query.
    return is_valid_room_id(slug)


async def get_room(session: AsyncSession, slug: str) -> RoomRecord | None:
    if not _plausible_slug(slug):
        return None
    room: RoomRecord | None = await session.scalar(
        select(RoomRecord).where(col(RoomRecord.slug) == slug)
    )
    return room


async def room_slug_of(session: AsyncSession, room_id: int) -> str | None:
    """The slug of the room with this id (other domains name rooms by slug)."""
    if not 0 < room_id < 2**31:
        return None
    room: RoomRecord | None = await session.get(RoomRecord, room_id)
    return room.slug if room is not None else None


async def get_member(session: AsyncSession, room_id: int, user_id: int) -> RoomMember | None:
    member: RoomMember | None = await session.get(RoomMember, (room_id, user_id))
    return member


def resolve_role(room: RoomRecord, user_id: int | None, member: RoomMember | None) -> Role:
    """The role ``user_id`` (None: not signed in) has in ``room``; raises when it has none."""
    if room.state == RoomStatus.archived:
        if member is not None and member.role == Role.OWNER:
            return Role.OWNER
        raise RoomNotFound()
    if member is not None:
        return member.role
    if room.visibility == Visibility.private:
        raise RoomNotFound()
    if user_id is None:
        if room.visibility == Visibility.public and room.allow_anonymous_view:
            return Role.VIEWER
        raise Unauthenticated("Sign in to see this room.")
    return Role.VIEWER


async def access_room(
    session: AsyncSession,
    actor: Actor | None,
    slug: str,
    *,
    at_least: Role = Role.VIEWER,
    for_update: bool = False,
) -> RoomAccess:
    """The room and the caller's role in it; RoomNotFound when it is not visible to the caller,
    NotRoomOwner when the role is below ``at_least`` (only owner-level checks exist)."""
    query = select(RoomRecord).where(col(RoomRecord.slug) == slug)
    if for_update:
        query = query.with_for_update()
    room: RoomRecord | None = await session.scalar(query) if _plausible_slug(slug) else None
    if room is None or room.room_id is None:
        raise RoomNotFound()
    member = await get_member(session, room.room_id, actor.user_id) if actor else None
    role = resolve_role(room, actor.user_id if actor is not None else None, member)
    if RANK[role] < RANK[at_least]:
        raise NotRoomOwner()
    return RoomAccess(room, room.room_id, role, member)


async def access_room_member(session: AsyncSession, actor: Actor, slug: str) -> RoomAccess:
    """The room if ``actor`` is one of its members: RoomNotFound when the room is not visible to
    them at all, NotRoomMember (403) when they may watch it (public, unlisted) but never joined.
    For what only the people of a room share, such as its gallery."""
    access = await access_room(session, actor, slug)
    if access.member is None:
        raise NotRoomMember()
    return access


async def is_room_member(session: AsyncSession, actor: Actor, slug: str) -> bool:
    """Whether ``actor`` is a member of the room (any role) and may still see it."""
    try:
        await access_room_member(session, actor, slug)
    except (RoomNotFound, NotRoomMember):
        return False
    return True


async def can_see_room(session: AsyncSession, actor: Actor, slug: str) -> bool:
    """Whether ``actor`` may see the room (then also its jobs' prompts and its images). Other
    domains call this; it reads through the caller's session, which holds a connection already."""
    try:
        await access_room(session, actor, slug)
    except RoomNotFound:
        return False
    return True


def room_visibility(actor: Actor) -> Callable[[AsyncSession, str], Awaitable[bool]]:
    """:func:`can_see_room` for one actor, for services that take ``can_see_room=`` as a check."""

    async def can_see(session: AsyncSession, slug: str) -> bool:
        return await can_see_room(session, actor, slug)

    return can_see


async def is_in_room(session: AsyncSession, actor: Actor, slug: str) -> bool:
    """Whether the room is public or ``actor`` is one of its members. Stricter than
    :func:`can_see_room`: anyone signed in may look into an unlisted room, but only with its
    slug, the shared secret; lists that would hand out slugs (the queue) use this instead."""
    try:
        access = await access_room(session, actor, slug)
    except RoomNotFound:
        return False
    return access.member is not None or access.room.visibility == Visibility.public


def room_membership(actor: Actor) -> Callable[[AsyncSession, str], Awaitable[bool]]:
    """:func:`is_in_room` for one actor, for services that take ``can_see_room=`` as a check."""

    async def in_room(session: AsyncSession, slug: str) -> bool:
        return await is_in_room(session, actor, slug)

    return in_room


async def socket_role(session: AsyncSession, actor: Actor | None, slug: str) -> Role:
    """The role a socket joins with; RoomClosed for rooms that are not open."""
    access = await access_room(session, actor, slug)
    if access.room.state != RoomStatus.open:
        raise RoomClosed()
    if access.room.hidden_at is not None:
        raise RoomClosed("The room was hidden by moderators.")
    return access.role


async def recheck_sockets(
    session: AsyncSession, slug: str, user_ids: Sequence[int | None]
) -> list[Role | None]:
    """For sockets already in the room: the role each may keep (None: must leave)."""
    room = await get_room(session, slug)
    if room is None or room.room_id is None or room.state != RoomStatus.open or room.hidden_at:
        return [None] * len(user_ids)
    wanted = sorted({uid for uid in user_ids if uid is not None})
    members: dict[int, RoomMember] = {}
    if wanted:
        rows = await session.scalars(
            select(RoomMember).where(
                col(RoomMember.room_id) == room.room_id, col(RoomMember.user_id).in_(wanted)
            )
        )
        members = {m.user_id: m for m in rows}
    verdicts: list[Role | None] = []
    for uid in user_ids:
        try:
            verdicts.append(resolve_role(room, uid, members.get(uid) if uid else None))
        except (RoomNotFound, Unauthenticated):
            verdicts.append(None)
    return verdicts
