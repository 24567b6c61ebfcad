"""Users: lookups and views for other domains, sign-up rules, profiles and site roles.

Other domains read users only through the functions here (``get_user``, ``get_users``,
``user_public``, ...), never by querying the tables (docs/accounts.md, "Layout").
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.credentials import ROLE_CHANGED, SocketCloser, end_connections, user_key
from hub.accounts.errors import EmailTaken, LastAdmin, UsernameTaken, field_error
from hub.accounts.indexing import index_user
from hub.accounts.models import User
from hub.accounts.passwords import check_password_strength, hash_password
from hub.accounts.roles import UserRole, require_role
from hub.accounts.schemas import (
    RESERVED_USERNAMES,
    USERNAME_RE,
    UserPrivate,
    UserPublic,
    check_email,
    check_username,
)
from hub.audit import service as audit
from hub.db import utcnow
from hub.errors import Conflict, NotFound

# --- views ---------------------------------------------------------------------------------------


def default_avatar_url(username: str) -> str:
    return f"/api/v1/users/{username}/avatar.svg"


def user_public(user: User) -> UserPublic:
    return UserPublic(
        user_id=user_id_of(user),
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        avatar_url=user.avatar_url or default_avatar_url(user.username),
        role=UserRole(user.role),
        created_at=user.created_at,
    )


def user_private(user: User) -> UserPrivate:
    return UserPrivate(
        **user_public(user).model_dump(),
        email=user.email,
        email_verified=user.email_verified,
        is_active=user.is_active,
        has_password=user.password_hash is not None,
    )


def actor_for(
    user: User, *, auth: str, session_id: str | None = None, token_id: str | None = None
) -> Actor:
    return Actor(
        user_id=user_id_of(user),
        username=user.username,
        display_name=user.display_name,
        role=UserRole(user.role),
        auth=auth,  # type: ignore[arg-type]
        session_id=session_id,
        token_id=token_id,
        locale=user.locale,
        timezone=user.timezone,
    )


def user_id_of(user: User) -> int:
    """The id of a flushed user row."""
    if user.user_id is None:  # pragma: no cover - only flushed rows get here
        raise RuntimeError("the user row has no id yet; flush first")
    return user.user_id


def _clean_display_name(value: str | None) -> str:
    # Names from identity providers are not validated by our schemas: drop control characters.
    kept = "".join(ch for ch in (value or "") if not unicodedata.category(ch).startswith("C"))
    return kept.strip()[:64]


# --- lookups -------------------------------------------------------------------------------------


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_users(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, UserPublic]:
    """Public views of many users in one query (for lists: authors, members, ...)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(User).where(col(User.user_id).in_(wanted)))
    return {u.user_id: user_public(u) for u in rows if u.user_id is not None}


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    # Every stored name passed check_username; anything else (a path's "%00", which Postgres
    # refuses in a text parameter) names nobody, without a query.
    if not USERNAME_RE.fullmatch(username):
        return None
    return await session.scalar(select(User).where(col(User.username_key) == username.lower()))


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(col(User.email_key) == email.strip().lower()))


# --- sign-up -------------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    username: str,
    password: str | None,
    role: UserRole = UserRole.USER,
    display_name: str | None = None,
    email_verified: bool = False,
) -> User:
    """Create an account. ``password=None`` makes an account that signs in only through an
    identity provider until its owner sets a password. Raises ``ValidationFailed``,
    ``EmailTaken`` or ``UsernameTaken`` (409, case-insensitive)."""
    try:
        email = check_email(email)
    except ValueError as exc:
        raise field_error("email", str(exc)) from None
    try:
        username = check_username(username)
    except ValueError as exc:
        raise field_error("username", str(exc)) from None
    if password is not None:
        check_password_strength(password, username=username, email=email)
    try:
        role = UserRole(role)  # callers without types may pass any string
    except ValueError:
        raise field_error("role", f"must be one of {', '.join(UserRole)}") from None
    await _ensure_available(session, email=email, username=username)
    now = utcnow()
    user = User(
        email=email,
        email_key=email.lower(),
        username=username,
        username_key=username.lower(),
        password_hash=await hash_password(password) if password is not None else None,
        display_name=_clean_display_name(display_name) or username,
        role=role.value,
        email_verified=email_verified,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        # Lost a race with a concurrent sign-up between the check and the insert.
        raise Conflict("That email or username was just taken; pick another.") from None
    await index_user(session, user)
    return user


async def _ensure_available(session: AsyncSession, *, email: str, username: str) -> None:
    rows = await session.execute(
        select(col(User.email_key), col(User.username_key)).where(
            or_(
                col(User.email_key) == email.lower(),
                col(User.username_key) == username.lower(),
            )
        )
    )
    taken = rows.all()
    if any(r.email_key == email.lower() for r in taken):
        raise EmailTaken()
    if taken:
        raise UsernameTaken()


# --- profiles ------------------------------------------------------------------------------------


async def access_me(session: AsyncSession, actor: Actor) -> User:
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound("The account no longer exists.")
    return user


async def update_profile(
    session: AsyncSession, actor: Actor, *, display_name: str | None, bio: str | None
) -> User:
    user = await access_me(session, actor)
    if display_name is not None:
        user.display_name = display_name
    if bio is not None:
        user.bio = bio
    user.updated_at = utcnow()
    await session.flush()
    await index_user(session, user)
    return user


async def set_avatar_url(session: AsyncSession, actor: Actor, *, avatar_url: str | None) -> User:
    """Point the profile at an uploaded avatar (the storage domain stores the picture), or back
    at the default identicon with ``None``."""
    if avatar_url is not None and not 0 < len(avatar_url) <= 1024:
        raise ValueError("avatar_url must be 1 to 1024 characters")
    user = await access_me(session, actor)
    user.avatar_url = avatar_url
    user.updated_at = utcnow()
    await session.flush()
    await index_user(session, user)
    return user


async def access_profile(session: AsyncSession, *, username: str) -> UserPublic:
    user = await get_user_by_username(session, username)
    if user is None or not user.is_active:
        raise NotFound("No such user.")
    return user_public(user)


# --- site roles ----------------------------------------------------------------------------------


async def set_role(
    session: AsyncSession,
    actor: Actor | None,
    *,
    sockets: SocketCloser,
    user_id: int,
    role: UserRole,
    reason: str | None = None,
) -> User:
    """Change a user's role. ``actor=None`` is the command line (an operator with shell access).
    The last active admin cannot be demoted: nobody could promote anyone again. A lower role
    closes every socket of the user (they were admitted with the rights of the old one); a
    higher one leaves them open (the next handshake gets the new role)."""
    if actor is not None:
        require_role(actor, UserRole.ADMIN, to="change roles")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.role == UserRole.ADMIN and role != UserRole.ADMIN:
        admins = await session.scalar(
            select(func.count())
            .select_from(User)
            .where(col(User.role) == UserRole.ADMIN.value, col(User.is_active).is_(True))
        )
        if (admins or 0) <= 1 and user.is_active:
            raise LastAdmin()
    if role.rank < UserRole(user.role).rank:
        end_connections(session, sockets, [user_key(user_id)], ROLE_CHANGED)
    before = user.role
    user.role = role.value
    user.updated_at = utcnow()
    await session.flush()
    if before != user.role:
        # Every path (the admin API and pages, the command line) leaves the same entry.
        await audit.record(
            session,
            actor_id=actor.user_id if actor is not None else None,
            action="user.role",
            target_type="user",
            target_id=user_id,
            before={"role": before},
            after={"role": user.role},
            reason=reason,
        )
    return user


# --- usernames for accounts made elsewhere (identity providers, the command line) ----------------


_NOT_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]+")


def _username_base(candidate: str) -> str:
    """Letters, digits and underscores of ``candidate`` ("" when nothing usable is left)."""
    base = _NOT_NAME_CHARS.sub("_", candidate).strip("_")[:24]
    if base and len(base) < 3:
        base = f"{base}_user"
    return base


async def derive_username(session: AsyncSession, *candidates: str | None) -> str:
    """A free username from the first usable candidate (preferred name, email local part, ...)."""
    base = next((b for c in candidates if c and (b := _username_base(c))), "user")
    tries = [base] if base.lower() not in RESERVED_USERNAMES else []
    tries += [f"{base}_{secrets.randbelow(10_000):04d}" for _ in range(5)]
    for name in tries:
        if await get_user_by_username(session, name) is None:
            return name
    return f"{base}_{secrets.token_hex(4)}"
