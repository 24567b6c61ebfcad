"""Room membership: who is in a room with which role, who is online, role changes and leaving.

Members join through invites (:mod:`hub.collab.invites`); the owner is made by
:func:`hub.collab.rooms.create_room` and changed by :func:`hub.collab.rooms.transfer_room`.
Role changes and kicks reach open sockets on every process after the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.deps import Actor
from hub.accounts.users import get_users
from hub.collab.access import access_room, get_member
from hub.collab.errors import NotAMember, OwnerCannotLeave
from hub.collab.models import RoomMember
from hub.collab.rooms import page_filter
from hub.collab.schemas import GrantableRole, MemberOut, MemberPage, OnlineOut
from hub.outbox import after_commit
from hub.pagination import encode_cursor
from rooms.types import Role

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent


async def list_members(
    session: AsyncSession,
    actor: Actor | None,
    slug: str,
    *,
    cursor: str | None,
    limit: int,
    live: RoomsComponent,
) -> MemberPage:
    access = await access_room(session, actor, slug)
    query = select(RoomMember).where(col(RoomMember.room_id) == access.room_id)
    condition = page_filter(
        col(RoomMember.joined_at), col(RoomMember.user_id), cursor, descending=False
    )
    if condition is not None:
        query = query.where(condition)
    query = query.order_by(col(RoomMember.joined_at), col(RoomMember.user_id)).limit(limit + 1)
    members = list(await session.scalars(query))
    more = len(members) > limit
    members = members[:limit]
    online = _aggregate_online(await live.online(slug) or [])
    online_ids = {entry.user_id for entry in online if entry.user_id is not None}
    users = await get_users(session, [m.user_id for m in members])
    items = [
        MemberOut(
            user_id=m.user_id,
            username=users[m.user_id].username if m.user_id in users else "",
            display_name=users[m.user_id].display_name if m.user_id in users else "",
            role=m.role,
            joined_at=m.joined_at,
            online=m.user_id in online_ids,
        )
        for m in members
    ]
    last = members[-1] if more else None
    return MemberPage(
        items=items,
        next_cursor=encode_cursor(last.joined_at, last.user_id) if last else None,
        online=online,
    )


def _aggregate_online(entries: Iterable[dict[str, Any]]) -> list[OnlineOut]:
    """Presence has one entry per socket; people may have several (tabs, devices)."""
    people: dict[str, OnlineOut] = {}
    for entry in entries:
        raw = entry.get("user_id")
        user_id = int(raw) if isinstance(raw, str) and raw.isdigit() else None
        key = f"u{user_id}" if user_id is not None else f"c{entry.get('connection_id')}"
        raw_role = entry.get("role")
        role = Role(raw_role) if raw_role in (Role.OWNER, Role.EDITOR) else Role.VIEWER
        if key in people:
            current = people[key]
            people[key] = current.model_copy(update={"connections": current.connections + 1})
        else:
            people[key] = OnlineOut(
                user_id=user_id, name=entry.get("name"), role=role, connections=1
            )
    return list(people.values())


async def change_member_role(
    session: AsyncSession,
    actor: Actor,
    slug: str,
    user_id: int,
    *,
    role: GrantableRole,
    live: RoomsComponent,
) -> MemberOut:
    access = await access_room(session, actor, slug, at_least=Role.OWNER)
    member = await get_member(session, access.room_id, user_id)
    if member is None:
        raise NotAMember()
    if member.role == Role.OWNER:
        raise OwnerCannotLeave()
    member.role = granted = Role(role)
    await session.flush()
    after_commit(session, lambda: live.set_role(slug, user_id, granted))
    users = await get_users(session, [user_id])
    online = _aggregate_online(await live.online(slug) or [])
    return MemberOut(
        user_id=user_id,
        username=users[user_id].username if user_id in users else "",
        display_name=users[user_id].display_name if user_id in users else "",
        role=member.role,
        joined_at=member.joined_at,
        online=any(entry.user_id == user_id for entry in online),
    )


async def remove_member(
    session: AsyncSession, actor: Actor, slug: str, user_id: int, *, live: RoomsComponent
) -> None:
    """The owner removes (kicks) a member; a member may remove themselves (leave)."""
    leaving = user_id == actor.user_id
    access = await access_room(
        session, actor, slug, at_least=Role.VIEWER if leaving else Role.OWNER
    )
    member = await get_member(session, access.room_id, user_id)
    if member is None:
        raise NotAMember()
    if member.role == Role.OWNER:
        raise OwnerCannotLeave()
    await session.delete(member)
    await session.flush()
    reason = "left the room" if leaving else "removed from the room"
    after_commit(session, lambda: live.kick_user(slug, user_id, reason))
