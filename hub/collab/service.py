"""Rules of rooms as a product: who sees a room, who may change it, membership, invites.

Access (one function decides it for the API, the page and the sockets: :func:`resolve_role`):

* members have their role (owner, editor, viewer);
* archived rooms exist for their owner only; private rooms for their members only (everyone else
  gets 404, whether the room exists or not);
* public and unlisted rooms admit any signed-in user as a viewer; visitors who are not signed in
  may watch a public room whose owner allows it, and get 401 elsewhere;
* closed rooms stay readable but accept no sockets, invites or members (409 / 4410).

Changes that affect people connected now (kick, role change, close, narrower access) are applied
on every process after the transaction commits (``after_commit`` + :class:`RoomsComponent`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.deps import Actor
from hub.accounts.schemas import UserPublic
from hub.accounts.users import get_users
from hub.collab.errors import (
    InviteExhausted,
    InviteExpired,
    InviteNotFound,
    InviteRevoked,
    NotAMember,
    NotRoomOwner,
    OwnerCannotLeave,
    RoomClosed,
    RoomFull,
    RoomNotFound,
)
from hub.collab.models import (
    RoomInvite,
    RoomMember,
    RoomRecord,
    RoomStatus,
    Visibility,
)
from hub.collab.schemas import (
    ChatMessageOut,
    ChatPage,
    DocumentOut,
    GrantableRole,
    HistoryPage,
    InviteAccepted,
    InviteCreated,
    InviteOut,
    InvitePage,
    InviteState,
    MemberOut,
    MemberPage,
    OnlineOut,
    RoomOut,
    RoomPage,
    SnapshotOut,
    UserRef,
)
from hub.db import settings_of, utcnow
from hub.errors import BadRequest, Conflict, Unauthenticated
from hub.outbox import after_commit
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from rooms.room import new_document, read_document
from rooms.types import Role, is_valid_room_id

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent

# Who outranks whom: an invite never lowers a member, and access_room checks at_least.
RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}
CHAT_EVENT = "chat.message"
SLUG_SUFFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0)


# --- slugs and tokens ----------------------------------------------------------------------------


def slugify(title: str, *, max_length: int = 48) -> str:
    """ASCII words of the title ("A Cat, in Rain!" -> "a-cat-in-rain"); "room" when none."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    words = words[:max_length].rstrip("-")
    return words or "room"


def new_slug(title: str) -> str:
    suffix = "".join(secrets.choice(SLUG_SUFFIX_ALPHABET) for _ in range(8))
    return f"{slugify(title)}-{suffix}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- access --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomAccess:
    room: RoomRecord
    room_id: int
    role: Role
    member: RoomMember | None


def _id(value: int | None) -> int:
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


async def _get_member(session: AsyncSession, room_id: int, user_id: int) -> RoomMember | None:
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


def _uid(actor: Actor | None) -> int | None:
    return actor.user_id if actor is not None else None


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
    member = await _get_member(session, room.room_id, actor.user_id) if actor else None
    role = resolve_role(room, _uid(actor), member)
    if RANK[role] < RANK[at_least]:
        raise NotRoomOwner()
    return RoomAccess(room, room.room_id, role, member)


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


async def socket_role(session: AsyncSession, actor: Actor | None, slug: str) -> Role:
    """The role a socket joins with; RoomClosed for rooms that are not open."""
    access = await access_room(session, actor, slug)
    if access.room.state != RoomStatus.open:
        raise RoomClosed()
    return access.role


async def recheck_sockets(
    session: AsyncSession, slug: str, user_ids: Sequence[int | None]
) -> list[Role | None]:
    """For sockets already in the room: the role each may keep (None: must leave)."""
    room = await get_room(session, slug)
    if room is None or room.room_id is None or room.state != RoomStatus.open:
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


# --- views ---------------------------------------------------------------------------------------


def _user_ref(user: UserPublic | None) -> UserRef | None:
    if user is None:
        return None
    return UserRef(user_id=user.user_id, username=user.username, display_name=user.display_name)


def room_out(
    room: RoomRecord, *, owner: UserPublic | None, my_role: Role | None, online: int = 0
) -> RoomOut:
    return RoomOut(
        slug=room.slug,
        title=room.title,
        description=room.description,
        visibility=room.visibility,
        allow_anonymous_view=room.allow_anonymous_view,
        owner=_user_ref(owner),
        state=room.state,
        payer=room.payer,
        max_members=room.max_members,
        created_at=room.created_at,
        updated_at=room.updated_at,
        closed_at=room.closed_at,
        my_role=my_role,
        online=online,
        page_url=f"/r/{room.slug}",
        yjs_path=f"/yjs/{room.slug}",
        events_path=f"/rooms/{room.slug}/events",
    )


async def _room_out(
    session: AsyncSession, room: RoomRecord, role: Role | None, online: int = 0
) -> RoomOut:
    owners = await get_users(session, [room.owner_id])
    return room_out(room, owner=owners.get(room.owner_id), my_role=role, online=online)


# --- rooms ---------------------------------------------------------------------------------------


async def create_room(
    session: AsyncSession,
    actor: Actor,
    *,
    limiter: RateLimiter,
    title: str,
    description: str = "",
    visibility: str = Visibility.private,
    allow_anonymous_view: bool = False,
    payer: str = "member",
    max_members: int | None = None,
) -> RoomOut:
    """The creator becomes the owner. Limited per user (``HUB_RATE_LIMIT_ROOM_CREATE``), from
    the API and the start page's form alike."""
    rule = settings_of(session).rate_limit_room_create
    await limiter.hit(rule, "room-create", str(actor.user_id))
    now = utcnow()
    for _ in range(5):  # 40 random bits per slug: a collision is already unlikely
        slug = new_slug(title)
        if await get_room(session, slug) is None:
            break
    else:  # pragma: no cover - five collisions in a row
        raise Conflict("Could not pick a free room address; try again.")
    room = RoomRecord(
        slug=slug,
        title=title,
        description=description,
        visibility=visibility,
        allow_anonymous_view=allow_anonymous_view,
        owner_id=actor.user_id,
        state=RoomStatus.open,
        payer=payer,
        max_members=max_members,
        created_at=now,
        updated_at=now,
    )
    session.add(room)
    await session.flush()
    owner = RoomMember(
        room_id=_id(room.room_id), user_id=actor.user_id, role=Role.OWNER, joined_at=now
    )
    session.add(owner)
    await session.flush()
    return await _room_out(session, room, Role.OWNER)


def _page_filter(
    created: Any, row_id: Any, cursor: str | None, *, descending: bool
) -> ColumnElement[bool] | None:
    if cursor is None:
        return None
    at, last_id = decode_cursor(cursor)
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        raise BadRequest("The cursor is not valid; start again without it.")
    if descending:
        return or_(created < at, and_(created == at, row_id < last_id))
    return or_(created > at, and_(created == at, row_id > last_id))


async def list_rooms(
    session: AsyncSession,
    actor: Actor | None,
    *,
    scope: str,
    cursor: str | None,
    limit: int,
    live: RoomsComponent,
) -> RoomPage:
    counts = await live.live_counts()
    return await _list_rooms(session, actor, scope=scope, cursor=cursor, limit=limit, counts=counts)


async def list_start_page(
    session: AsyncSession, actor: Actor | None, *, limit: int, live: RoomsComponent
) -> tuple[RoomPage | None, RoomPage]:
    """The start page's first pages of your rooms (None for visitors) and of public rooms,
    with one read of who is online."""
    counts = await live.live_counts()

    async def first_page(scope: str) -> RoomPage:
        return await _list_rooms(
            session, actor, scope=scope, cursor=None, limit=limit, counts=counts
        )

    return (await first_page("mine") if actor else None), await first_page("public")


async def _list_rooms(
    session: AsyncSession,
    actor: Actor | None,
    *,
    scope: str,
    cursor: str | None,
    limit: int,
    counts: Mapping[str, int],
) -> RoomPage:
    query = select(RoomRecord).where(col(RoomRecord.state) != RoomStatus.archived)
    if scope == "mine":
        if actor is None:
            raise Unauthenticated("Sign in to list your rooms.")
        query = query.join(RoomMember, col(RoomMember.room_id) == col(RoomRecord.room_id)).where(
            col(RoomMember.user_id) == actor.user_id
        )
    elif scope == "public":
        query = query.where(
            col(RoomRecord.visibility) == Visibility.public,
            col(RoomRecord.state) == RoomStatus.open,
        )
    else:  # live: public rooms with people in them now, and the caller's own live rooms
        visible = col(RoomRecord.visibility) == Visibility.public
        if actor is not None:
            mine = select(col(RoomMember.room_id)).where(col(RoomMember.user_id) == actor.user_id)
            visible = or_(visible, col(RoomRecord.room_id).in_(mine))
        query = query.where(
            col(RoomRecord.slug).in_(sorted(counts)),
            col(RoomRecord.state) == RoomStatus.open,
            visible,
        )
    condition = _page_filter(
        col(RoomRecord.created_at), col(RoomRecord.room_id), cursor, descending=True
    )
    if condition is not None:
        query = query.where(condition)
    query = query.order_by(col(RoomRecord.created_at).desc(), col(RoomRecord.room_id).desc()).limit(
        limit + 1
    )
    rooms = list(await session.scalars(query))
    more = len(rooms) > limit
    rooms = rooms[:limit]
    owners = await get_users(session, [r.owner_id for r in rooms])
    roles: dict[int, Role] = {}
    if actor is not None and rooms:
        rows = await session.execute(
            select(col(RoomMember.room_id), col(RoomMember.role)).where(
                col(RoomMember.user_id) == actor.user_id,
                col(RoomMember.room_id).in_([r.room_id for r in rooms]),
            )
        )
        roles = {room_id: role for room_id, role in rows}
    items = []
    for room in rooms:
        my_role = roles.get(room.room_id or 0)
        if my_role is None and actor is not None:
            my_role = Role.VIEWER  # listed rooms are public (or yours): you may watch
        items.append(
            room_out(
                room,
                owner=owners.get(room.owner_id),
                my_role=my_role,
                online=counts.get(room.slug, 0),
            )
        )
    last = rooms[-1] if more else None
    next_cursor = encode_cursor(last.created_at, last.room_id) if last is not None else None
    return RoomPage(items=items, next_cursor=next_cursor)


async def read_room(
    session: AsyncSession, actor: Actor | None, slug: str, *, live: RoomsComponent
) -> RoomOut:
    access = await access_room(session, actor, slug)
    online = len(await live.online(slug) or [])
    return await _room_out(session, access.room, access.role, online)


async def update_room(
    session: AsyncSession,
    actor: Actor,
    slug: str,
    *,
    changes: dict[str, Any],
    live: RoomsComponent,
) -> RoomOut:
    access = await access_room(session, actor, slug, at_least=Role.OWNER)
    room = access.room
    # Any visibility change may shut someone out (public -> unlisted drops anonymous
    # viewers); so does turning anonymous viewing off.
    narrower = changes.get("visibility", room.visibility) != room.visibility or (
        room.allow_anonymous_view and changes.get("allow_anonymous_view") is False
    )
    for name, value in changes.items():
        setattr(room, name, value)
    if room.visibility != Visibility.public:
        room.allow_anonymous_view = False  # the flag only means something on public rooms
    room.updated_at = utcnow()
    await session.flush()
    if narrower:
        after_commit(session, lambda: live.recheck(slug))
    return await _room_out(session, room, access.role)


async def close_room(
    session: AsyncSession, actor: Actor, slug: str, *, live: RoomsComponent
) -> RoomOut:
    """Idempotent: closing a closed room changes nothing but still drops stray sockets."""
    access = await access_room(session, actor, slug, at_least=Role.OWNER)
    room = access.room
    if room.state == RoomStatus.open:
        room.state = RoomStatus.closed
        room.closed_at = room.updated_at = utcnow()
        await session.flush()
    after_commit(session, lambda: live.close_room(slug))
    return await _room_out(session, room, access.role)


async def archive_room(
    session: AsyncSession, actor: Actor, slug: str, *, live: RoomsComponent
) -> None:
    """ "Delete": the room disappears for everyone but its owner; its data stays."""
    access = await access_room(session, actor, slug, at_least=Role.OWNER)
    room = access.room
    now = utcnow()
    if room.state != RoomStatus.archived:
        room.state = RoomStatus.archived
        room.closed_at = room.closed_at or now
        room.updated_at = now
        await session.flush()
    after_commit(session, lambda: live.close_room(slug, "room deleted"))


async def transfer_room(
    session: AsyncSession, actor: Actor, slug: str, *, user_id: int, live: RoomsComponent
) -> RoomOut:
    access = await access_room(session, actor, slug, at_least=Role.OWNER, for_update=True)
    room = access.room
    if user_id == room.owner_id:
        raise Conflict("That user already owns the room.")
    target = await _get_member(session, access.room_id, user_id)
    if target is None:
        raise NotAMember("The new owner must be a member of the room; invite them first.")
    previous = access.member
    if previous is None:  # the owner is always a member (create_room makes the row)
        raise RuntimeError("room owner without a membership row")
    previous.role = Role.EDITOR
    target.role = Role.OWNER
    room.owner_id = user_id
    room.updated_at = utcnow()
    await session.flush()

    async def apply_live() -> None:
        await live.set_role(slug, previous.user_id, Role.EDITOR)
        await live.set_role(slug, user_id, Role.OWNER)

    after_commit(session, apply_live)
    return await _room_out(session, room, Role.EDITOR)


# --- members -------------------------------------------------------------------------------------


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
    condition = _page_filter(
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
    member = await _get_member(session, access.room_id, user_id)
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
    member = await _get_member(session, access.room_id, user_id)
    if member is None:
        raise NotAMember()
    if member.role == Role.OWNER:
        raise OwnerCannotLeave()
    await session.delete(member)
    await session.flush()
    reason = "left the room" if leaving else "removed from the room"
    after_commit(session, lambda: live.kick_user(slug, user_id, reason))


# --- invites -------------------------------------------------------------------------------------


def _invite_state(invite: RoomInvite, now: datetime) -> InviteState:
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at is not None and invite.expires_at <= now:
        return "expired"
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return "exhausted"
    return "active"


def invite_out(invite: RoomInvite, now: datetime | None = None) -> InviteOut:
    return InviteOut(
        invite_id=_id(invite.invite_id),
        role=invite.role,
        state=_invite_state(invite, now or utcnow()),
        expires_at=invite.expires_at,
        max_uses=invite.max_uses,
        uses=invite.uses,
        revoked_at=invite.revoked_at,
        created_at=invite.created_at,
        created_by=invite.created_by,
    )


async def create_invite(
    session: AsyncSession,
    actor: Actor,
    slug: str,
    *,
    role: GrantableRole,
    expires_in: int | None,
    max_uses: int | None,
) -> InviteCreated:
    access = await access_room(session, actor, slug, at_least=Role.OWNER)
    if access.room.state != RoomStatus.open:
        raise RoomClosed()
    token = secrets.token_urlsafe(24)
    now = utcnow()
    invite = RoomInvite(
        room_id=access.room_id,
        token_hash=hash_token(token),
        role=Role(role),
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
        max_uses=max_uses,
        uses=0,
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(invite)
    await session.flush()
    url = f"{settings_of(session).public_url.rstrip('/')}/join/{token}"
    return InviteCreated(invite=invite_out(invite, now), token=token, url=url)


async def list_invites(
    session: AsyncSession, actor: Actor, slug: str, *, cursor: str | None, limit: int
) -> InvitePage:
    access = await access_room(session, actor, slug, at_least=Role.OWNER)
    query = select(RoomInvite).where(col(RoomInvite.room_id) == access.room_id)
    condition = _page_filter(
        col(RoomInvite.created_at), col(RoomInvite.invite_id), cursor, descending=True
    )
    if condition is not None:
        query = query.where(condition)
    query = query.order_by(
        col(RoomInvite.created_at).desc(), col(RoomInvite.invite_id).desc()
    ).limit(limit + 1)
    invites = list(await session.scalars(query))
    more = len(invites) > limit
    invites = invites[:limit]
    now = utcnow()
    last = invites[-1] if more else None
    return InvitePage(
        items=[invite_out(i, now) for i in invites],
        next_cursor=encode_cursor(last.created_at, last.invite_id) if last else None,
    )


async def revoke_invite(session: AsyncSession, actor: Actor, slug: str, invite_id: int) -> None:
    """Idempotent: revoking a revoked invite changes nothing."""
    access = await access_room(session, actor, slug, at_least=Role.OWNER)
    invite: RoomInvite | None = await session.get(RoomInvite, invite_id)
    if invite is None or invite.room_id != access.room_id:
        raise InviteNotFound()
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()
        await session.flush()


async def accept_invite(
    session: AsyncSession, actor: Actor, token: str, *, live: RoomsComponent
) -> InviteAccepted:
    invite: RoomInvite | None = None
    if 16 <= len(token) <= 128:
        invite = await session.scalar(
            select(RoomInvite).where(col(RoomInvite.token_hash) == hash_token(token))
        )
    if invite is None:
        raise InviteNotFound()
    # Lock the room row (Postgres) so concurrent accepts count members one at a time.
    room: RoomRecord | None = await session.scalar(
        select(RoomRecord).where(col(RoomRecord.room_id) == invite.room_id).with_for_update()
    )
    if room is None or room.room_id is None or room.state == RoomStatus.archived:
        raise InviteNotFound()
    if room.state != RoomStatus.open:
        raise RoomClosed()
    member = await _get_member(session, room.room_id, actor.user_id)
    if member is not None and RANK[member.role] >= RANK[invite.role]:
        return InviteAccepted(
            room=await _room_out(session, room, member.role),
            role=member.role,
            joined=False,
        )
    if member is None and room.max_members is not None:
        count = await session.scalar(
            select(func.count())
            .select_from(RoomMember)
            .where(col(RoomMember.room_id) == room.room_id)
        )
        if (count or 0) >= room.max_members:
            raise RoomFull()
    await _consume_use(session, invite)
    now = utcnow()
    if member is None:
        member = RoomMember(
            room_id=room.room_id, user_id=actor.user_id, role=invite.role, joined_at=now
        )
        session.add(member)
    else:
        member.role = invite.role
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("You just joined this room from another request.") from None
    role = member.role
    slug = room.slug
    after_commit(session, lambda: live.set_role(slug, actor.user_id, role))
    return InviteAccepted(room=await _room_out(session, room, role), role=role, joined=True)


@dataclass(frozen=True)
class InvitePreview:
    """What the join page shows before anyone clicks: the room, the role offered, the role the
    visitor already has there (None: not a member) and whether accepting would change it."""

    room: RoomOut
    role: Role
    my_role: Role | None
    would_change: bool


async def preview_invite(session: AsyncSession, actor: Actor, token: str) -> InvitePreview:
    """Reads an invite without using it; raises what accepting it now would raise."""
    invite: RoomInvite | None = None
    if 16 <= len(token) <= 128:
        invite = await session.scalar(
            select(RoomInvite).where(col(RoomInvite.token_hash) == hash_token(token))
        )
    room = await session.get(RoomRecord, invite.room_id) if invite is not None else None
    if invite is None or room is None or room.state == RoomStatus.archived:
        raise InviteNotFound()
    if room.state != RoomStatus.open:
        raise RoomClosed()
    member = await _get_member(session, _id(room.room_id), actor.user_id)
    would_change = member is None or RANK[member.role] < RANK[invite.role]
    if would_change:
        state = _invite_state(invite, utcnow())
        if state == "revoked":
            raise InviteRevoked()
        if state == "expired":
            raise InviteExpired()
        if state == "exhausted":
            raise InviteExhausted()
    my_role = member.role if member is not None else None
    return InvitePreview(
        room=await _room_out(session, room, my_role),
        role=invite.role,
        my_role=my_role,
        would_change=would_change,
    )


async def _consume_use(session: AsyncSession, invite: RoomInvite) -> None:
    """One conditional UPDATE, so concurrent accepts cannot overrun ``max_uses``."""
    now = utcnow()
    result = await session.execute(
        update(RoomInvite)
        .where(
            col(RoomInvite.invite_id) == invite.invite_id,
            col(RoomInvite.revoked_at).is_(None),
            or_(col(RoomInvite.expires_at).is_(None), col(RoomInvite.expires_at) > now),
            or_(
                col(RoomInvite.max_uses).is_(None),
                col(RoomInvite.uses) < col(RoomInvite.max_uses),
            ),
        )
        .values(uses=col(RoomInvite.uses) + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        await session.refresh(invite)
        return
    await session.refresh(invite)
    state = _invite_state(invite, now)
    if state == "revoked":
        raise InviteRevoked()
    if state == "expired":
        raise InviteExpired()
    raise InviteExhausted()


# --- document, chat, history ---------------------------------------------------------------------


async def read_document_of(
    session: AsyncSession, actor: Actor | None, slug: str, *, live: RoomsComponent
) -> DocumentOut:
    await access_room(session, actor, slug)
    document, source = await live.read_document(session, slug)
    return DocumentOut(**document, source=source)


def _author_id(raw: Any) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


async def list_chat(
    session: AsyncSession,
    actor: Actor | None,
    slug: str,
    *,
    before: int | None,
    limit: int,
    live: RoomsComponent,
) -> ChatPage:
    await access_room(session, actor, slug)
    events = await live.store.events_before(
        slug, before=before, limit=limit, types=[CHAT_EVENT], conn=await session.connection()
    )
    items = [
        ChatMessageOut(
            seq=e.seq,
            ts=e.ts,
            user_id=_author_id(e.data.get("user_id")),
            name=e.data.get("name") if isinstance(e.data.get("name"), str) else None,
            text=str(e.data.get("text", "")),
        )
        for e in events
    ]
    next_before = events[-1].seq if len(events) == limit else None
    return ChatPage(items=items, next_before=next_before)


async def list_history(
    session: AsyncSession,
    actor: Actor | None,
    slug: str,
    *,
    before: int | None,
    limit: int,
    live: RoomsComponent,
) -> HistoryPage:
    await access_room(session, actor, slug)
    snapshots = await live.store.snapshots_before(
        slug, before=before, limit=limit, conn=await session.connection()
    )
    ids = {uid for s in snapshots for a in s.authors if (uid := _author_id(a)) is not None}
    users = await get_users(session, ids)
    items = []
    for snap in snapshots:
        doc = new_document()
        doc.apply_update(snap.state)
        authors = [
            ref
            for a in sorted(snap.authors)
            if (uid := _author_id(a)) is not None and (ref := _user_ref(users.get(uid)))
        ]
        items.append(
            SnapshotOut(
                snapshot_id=snap.snapshot_id,
                created_at=snap.created_at,
                update_count=snap.update_count,
                authors=authors,
                document=read_document(doc),
            )
        )
    next_before = snapshots[-1].snapshot_id if len(snapshots) == limit else None
    return HistoryPage(items=items, next_before=next_before)
