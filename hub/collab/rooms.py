"""Rooms as a product: create, read, list, change, close, archive and transfer a room.

Changes that affect people connected now (close, narrower access, a new owner) are applied on
every process after the transaction commits (``after_commit`` + :class:`RoomsComponent`).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.deps import Actor
from hub.accounts.roles import UserRole, require_role
from hub.accounts.schemas import UserPublic
from hub.accounts.users import get_users
from hub.collab.access import access_room, get_member, get_room, row_id
from hub.collab.errors import NotAMember, RoomNotFound
from hub.collab.models import RoomMember, RoomRecord, RoomStatus, Visibility
from hub.collab.schemas import RoomOut, RoomPage, UserRef
from hub.db import settings_of, utcnow
from hub.errors import BadRequest, Conflict, Unauthenticated
from hub.outbox import after_commit
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from rooms.types import Role

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent

SLUG_SUFFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0)


# --- slugs ---------------------------------------------------------------------------------------


def slugify(title: str, *, max_length: int = 48) -> str:
    """ASCII words of the title ("A Cat, in Rain!" -> "a-cat-in-rain"); "room" when none."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    words = words[:max_length].rstrip("-")
    return words or "room"


def new_slug(title: str) -> str:
    suffix = "".join(secrets.choice(SLUG_SUFFIX_ALPHABET) for _ in range(8))
    return f"{slugify(title)}-{suffix}"


# --- views and paging ---------------------------------------------------------------------------


def user_ref(user: UserPublic | None) -> UserRef | None:
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
        owner=user_ref(owner),
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


async def load_room_out(
    session: AsyncSession, room: RoomRecord, role: Role | None, online: int = 0
) -> RoomOut:
    """:func:`room_out` with its owner read from accounts."""
    owners = await get_users(session, [room.owner_id])
    return room_out(room, owner=owners.get(room.owner_id), my_role=role, online=online)


def page_filter(
    created: Any, key: Any, cursor: str | None, *, descending: bool
) -> ColumnElement[bool] | None:
    """The keyset condition "after ``cursor``" on ``(created, key)``, shared by the room,
    member and invite listings; None on the first page."""
    if cursor is None:
        return None
    at, last_id = decode_cursor(cursor)
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        raise BadRequest("The cursor is not valid; start again without it.")
    if descending:
        return or_(created < at, and_(created == at, key < last_id))
    return or_(created > at, and_(created == at, key > last_id))


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
        room_id=row_id(room.room_id), user_id=actor.user_id, role=Role.OWNER, joined_at=now
    )
    session.add(owner)
    await session.flush()
    return await load_room_out(session, room, Role.OWNER)


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


@dataclass(frozen=True)
class StartPageRooms:
    mine: RoomPage | None  # None for visitors
    public: RoomPage
    live: RoomPage  # rooms with people in them now that the viewer may enter


async def list_start_page(
    session: AsyncSession, actor: Actor | None, *, limit: int, live: RoomsComponent
) -> StartPageRooms:
    """The start page's first pages of your rooms (None for visitors), of public rooms and of
    live rooms you can see, with one read of who is online."""
    counts = await live.live_counts()

    async def first_page(scope: str) -> RoomPage:
        return await _list_rooms(
            session, actor, scope=scope, cursor=None, limit=limit, counts=counts
        )

    return StartPageRooms(
        mine=await first_page("mine") if actor else None,
        public=await first_page("public"),
        live=await first_page("live"),
    )


async def _list_rooms(
    session: AsyncSession,
    actor: Actor | None,
    *,
    scope: str,
    cursor: str | None,
    limit: int,
    counts: Mapping[str, int],
) -> RoomPage:
    query = _scope_query(actor, scope, counts)
    condition = page_filter(
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
    roles = await _my_roles(session, actor, rooms)
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


def _scope_query(actor: Actor | None, scope: str, counts: Mapping[str, int]) -> Select[RoomRecord]:
    """The rooms a listing scope holds, archived and hidden rooms never."""
    query = select(RoomRecord).where(
        col(RoomRecord.state) != RoomStatus.archived, col(RoomRecord.hidden_at).is_(None)
    )
    if scope == "mine":
        if actor is None:
            raise Unauthenticated("Sign in to list your rooms.")
        return query.join(RoomMember, col(RoomMember.room_id) == col(RoomRecord.room_id)).where(
            col(RoomMember.user_id) == actor.user_id
        )
    if scope == "public":
        return query.where(
            col(RoomRecord.visibility) == Visibility.public,
            col(RoomRecord.state) == RoomStatus.open,
        )
    # live: public rooms with people in them now, and the caller's own live rooms
    visible = col(RoomRecord.visibility) == Visibility.public
    if actor is not None:
        mine = select(col(RoomMember.room_id)).where(col(RoomMember.user_id) == actor.user_id)
        visible = or_(visible, col(RoomRecord.room_id).in_(mine))
    return query.where(
        col(RoomRecord.slug).in_(sorted(counts)),
        col(RoomRecord.state) == RoomStatus.open,
        visible,
    )


async def _my_roles(
    session: AsyncSession, actor: Actor | None, rooms: list[RoomRecord]
) -> dict[int, Role]:
    """The caller's membership roles in the listed rooms, in one query."""
    if actor is None or not rooms:
        return {}
    rows = await session.execute(
        select(col(RoomMember.room_id), col(RoomMember.role)).where(
            col(RoomMember.user_id) == actor.user_id,
            col(RoomMember.room_id).in_([r.room_id for r in rooms]),
        )
    )
    return {room_id: role for room_id, role in rows}


async def read_room(
    session: AsyncSession, actor: Actor | None, slug: str, *, live: RoomsComponent
) -> RoomOut:
    access = await access_room(session, actor, slug)
    online = len(await live.online(slug) or [])
    return await load_room_out(session, access.room, access.role, online)


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
    return await load_room_out(session, room, access.role)


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
    return await load_room_out(session, room, access.role)


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


async def set_room_hidden(
    session: AsyncSession,
    slug: str,
    *,
    hidden: bool,
    reason: str | None,
    live: RoomsComponent | None,
) -> RoomRecord:
    """Hides (with the reason) or shows again a room: a hidden room leaves every list and takes
    no sockets, invites or generations; its sockets close on every process after commit.
    Idempotent; the caller (moderation) checks the permission and audits. RoomNotFound for an
    unknown or archived room."""
    room = await get_room(session, slug)
    if room is None or room.state == RoomStatus.archived:
        raise RoomNotFound()
    if hidden:
        room.hidden_at = room.hidden_at or utcnow()
        room.hidden_reason = reason
    else:
        room.hidden_at = room.hidden_reason = None
    room.updated_at = utcnow()
    await session.flush()
    if hidden and live is not None:
        after_commit(session, lambda: live.close_room(slug, "room hidden by moderators"))
    return room


async def transfer_room(
    session: AsyncSession, actor: Actor, slug: str, *, user_id: int, live: RoomsComponent
) -> RoomOut:
    access = await access_room(session, actor, slug, at_least=Role.OWNER, for_update=True)
    room = access.room
    if user_id == room.owner_id:
        raise Conflict("That user already owns the room.")
    target = await get_member(session, access.room_id, user_id)
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
    return await load_room_out(session, room, Role.EDITOR)


# --- the solo studio -----------------------------------------------------------------------------


def studio_slug(user_id: int) -> str:
    """The studio's address: ``studio--{user_id}``. Generated slugs never hold ``--``
    (:func:`slugify` folds runs of separators), so no room made from a title can take it."""
    return f"studio--{user_id}"


async def open_studio(session: AsyncSession, actor: Actor) -> RoomOut:
    """The actor's solo studio: a private room only they are a member of, made on first use
    (no invite, no title to pick, outside the room-creation rate limit since there is one per
    person). Concurrent first visits both end with the same room: the loser of the unique slug
    re-reads the winner's. A studio its owner closed or archived comes back as it is."""
    slug = studio_slug(actor.user_id)
    room = await get_room(session, slug)
    if room is None:
        now = utcnow()
        room = RoomRecord(
            slug=slug,
            title=f"{actor.display_name}'s studio"[:120],
            description="",
            visibility=Visibility.private,
            allow_anonymous_view=False,
            owner_id=actor.user_id,
            state=RoomStatus.open,
            payer="member",
            max_members=1,
            created_at=now,
            updated_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(room)
                await session.flush()
                session.add(
                    RoomMember(
                        room_id=row_id(room.room_id),
                        user_id=actor.user_id,
                        role=Role.OWNER,
                        joined_at=now,
                    )
                )
                await session.flush()
        except IntegrityError:
            room = await get_room(session, slug)
            if room is None:  # pragma: no cover - the winner's row is committed by now
                raise
    # Its owner is its one member; a studio handed to someone else is theirs now (404 here).
    access = await access_room(session, actor, slug)
    return await load_room_out(session, access.room, access.role)


# --- oversight (admins) --------------------------------------------------------------------------


async def oversee_rooms(
    session: AsyncSession,
    actor: Actor,
    *,
    q: str | None,
    state: RoomStatus | None,
    cursor: str | None,
    limit: int,
    live: RoomsComponent,
) -> RoomPage:
    """Every room whatever its visibility or state, newest first, with who is online now across
    processes (``online``). ``q`` matches a part of the title or the slug. Admins only."""
    require_role(actor, UserRole.ADMIN, to="oversee every room")
    counts = await live.live_counts()
    query = select(RoomRecord)
    if q:
        pattern = (
            "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        query = query.where(
            or_(
                func.lower(col(RoomRecord.title)).like(pattern, escape="\\"),
                col(RoomRecord.slug).like(pattern, escape="\\"),
            )
        )
    if state is not None:
        query = query.where(col(RoomRecord.state) == state.value)
    condition = page_filter(
        col(RoomRecord.created_at), col(RoomRecord.room_id), cursor, descending=True
    )
    if condition is not None:
        query = query.where(condition)
    query = query.order_by(col(RoomRecord.created_at).desc(), col(RoomRecord.room_id).desc())
    rooms = list(await session.scalars(query.limit(limit + 1)))
    more = len(rooms) > limit
    rooms = rooms[:limit]
    owners = await get_users(session, [r.owner_id for r in rooms])
    items = [
        room_out(r, owner=owners.get(r.owner_id), my_role=None, online=counts.get(r.slug, 0))
        for r in rooms
    ]
    last = rooms[-1] if more else None
    next_cursor = encode_cursor(last.created_at, last.room_id) if last is not None else None
    return RoomPage(items=items, next_cursor=next_cursor)


async def shut_room(
    session: AsyncSession, actor: Actor, slug: str, *, live: RoomsComponent, reason: str
) -> tuple[RoomOut, str]:
    """Close any room (admins): marked closed, and every socket of it on every process closed
    with 4410 "room closed" after the commit. Returns the room and its state before. An archived
    room stays archived (its sockets are closed all the same)."""
    require_role(actor, UserRole.ADMIN, to="close other people's rooms")
    room = await get_room(session, slug)
    if room is None:
        raise RoomNotFound()
    before = room.state
    if room.state == RoomStatus.open:
        room.state = RoomStatus.closed
        room.closed_at = room.updated_at = utcnow()
        await session.flush()
    after_commit(session, lambda: live.close_room(slug, "room closed by an admin"))
    return await load_room_out(session, room, None), before
