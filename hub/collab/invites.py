"""Room invites: the owner creates, lists and revokes them; a signed-in user previews and
accepts one to join with its role.

The token is shown once and stored as a SHA-256 digest. Uses are counted with one conditional
``UPDATE`` (no over-use under concurrency), and the member cap is checked under a row lock on
the room (Postgres).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.deps import Actor
from hub.collab.access import RANK, access_room, get_member, row_id
from hub.collab.errors import (
    InviteExhausted,
    InviteExpired,
    InviteNotFound,
    InviteRevoked,
    RoomClosed,
    RoomFull,
)
from hub.collab.models import RoomInvite, RoomMember, RoomRecord, RoomStatus
from hub.collab.rooms import load_room_out, page_filter
from hub.collab.schemas import (
    GrantableRole,
    InviteAccepted,
    InviteCreated,
    InviteOut,
    InvitePage,
    InviteState,
    RoomOut,
)
from hub.db import settings_of, utcnow
from hub.errors import Conflict
from hub.outbox import after_commit
from hub.pagination import encode_cursor
from rooms.types import Role

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
        invite_id=row_id(invite.invite_id),
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
    condition = page_filter(
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
    if room.state != RoomStatus.open or room.hidden_at is not None:
        raise RoomClosed()
    member = await get_member(session, room.room_id, actor.user_id)
    if member is not None and RANK[member.role] >= RANK[invite.role]:
        return InviteAccepted(
            room=await load_room_out(session, room, member.role),
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
    return InviteAccepted(room=await load_room_out(session, room, role), role=role, joined=True)


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
    member = await get_member(session, row_id(room.room_id), actor.user_id)
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
        room=await load_room_out(session, room, my_role),
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
