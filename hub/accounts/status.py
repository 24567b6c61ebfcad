"""Disabling and enabling accounts, and the admins' list of users.

A disabled account signs in nowhere: :func:`set_active` ends its browser sessions, revokes its
refresh-token families and personal tokens, and closes (4401, "account disabled") every socket it
holds on every process once the transaction commits (``end_connections`` with the user's key; the
rooms server applies it on every process through the bus, hub.accounts.credentials). The
resolvers already refuse inactive users, so a request racing the change is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.credentials import (
    SocketCloser,
    end_connections,
    family_key,
    personal_token_key,
    session_key,
    user_key,
)
from hub.accounts.errors import SelfDisable
from hub.accounts.models import ApiToken, User
from hub.accounts.roles import UserRole, require_role
from hub.accounts.sessions import revoke_sessions
from hub.accounts.tokens import revoke_refresh_families
from hub.db import utcnow
from hub.errors import BadRequest, NotFound
from hub.pagination import decode_cursor, encode_cursor

ACCOUNT_DISABLED: Final = "account disabled"


async def _revoke_personal_tokens(session: AsyncSession, user_id: int) -> list[int]:
    result = await session.execute(
        update(ApiToken)
        .where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
        .returning(col(ApiToken.token_id))
        .execution_options(synchronize_session=False)
    )
    return [tid for tid in result.scalars() if tid is not None]


async def set_active(
    session: AsyncSession,
    actor: Actor,
    *,
    sockets: SocketCloser,
    user_id: int,
    active: bool,
) -> tuple[User, bool]:
    """Enable or disable ``user_id``; returns the user and whether it was active before.
    Admins only (403); yourself: 409 ``conflict`` (nobody could undo a slip but another admin,
    and the last admin would lock the hub). Idempotent."""
    require_role(actor, UserRole.ADMIN, to="disable or enable accounts")
    if user_id == actor.user_id and not active:
        raise SelfDisable()
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("No such user.")
    before = user.is_active
    if before == active:
        return user, before
    user.is_active = active
    user.updated_at = utcnow()
    await session.flush()
    if not active:
        sessions = await revoke_sessions(session, user_id)
        families = await revoke_refresh_families(session, user_id, reason="account_disabled")
        tokens = await _revoke_personal_tokens(session, user_id)
        keys = [
            user_key(user_id),
            *map(session_key, sessions),
            *map(family_key, families),
            *map(personal_token_key, tokens),
        ]
        end_connections(session, sockets, keys, ACCOUNT_DISABLED)
    return user, before


@dataclass(frozen=True)
class UserFilter:
    q: str | None = None
    role: UserRole | None = None
    is_active: bool | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_users(
    session: AsyncSession,
    actor: Actor,
    *,
    where: UserFilter,
    cursor: str | None,
    limit: int,
) -> tuple[list[User], str | None]:
    """Every account, newest first, cursor-paged on ``(created_at, user_id)``; ``q`` matches a
    part of the username, display name or email (case-insensitive). Admins only."""
    require_role(actor, UserRole.ADMIN, to="list accounts")
    query = select(User)
    if where.q:
        pattern = f"%{_escape_like(where.q.lower())}%"
        query = query.where(
            or_(
                col(User.username_key).like(pattern, escape="\\"),
                col(User.email_key).like(pattern, escape="\\"),
                func.lower(col(User.display_name)).like(pattern, escape="\\"),
            )
        )
    if where.role is not None:
        query = query.where(col(User.role) == where.role.value)
    if where.is_active is not None:
        query = query.where(col(User.is_active).is_(where.is_active))
    if cursor:
        at, last_id = decode_cursor(cursor)
        if not isinstance(last_id, int) or isinstance(last_id, bool) or at.tzinfo is None:
            raise BadRequest("The cursor is not valid; start again without it.")
        query = query.where(
            or_(
                col(User.created_at) < at,
                and_(col(User.created_at) == at, col(User.user_id) < last_id),
            )
        )
    query = query.order_by(col(User.created_at).desc(), col(User.user_id).desc())
    rows = list(await session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(last.created_at, last.user_id)
    return rows, next_cursor
