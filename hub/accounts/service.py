"""Accounts rules: users, passwords, browser sessions, API tokens, identities.

Services take the session first, flush and never commit (ADR 0001). Other domains call the
functions in the "for other domains" section; they never query these tables themselves.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts import security
from hub.accounts.actor import Actor, RoleName
from hub.accounts.credentials import (
    PASSWORD_CHANGED,
    ROLE_CHANGED,
    SIGNED_OUT,
    TOKEN_REVOKED,
    SocketCloser,
    end_connections,
    family_key,
    parse_key,
    personal_token_key,
    session_key,
    user_key,
)
from hub.accounts.errors import (
    AccountDisabled,
    EmailTaken,
    LastAdmin,
    OIDCFailed,
    RegistrationClosed,
    UsernameTaken,
)
from hub.accounts.models import (
    ApiToken,
    BrowserSession,
    Identity,
    RefreshFamily,
    RefreshToken,
    User,
)
from hub.accounts.oidc import IdentityClaims
from hub.accounts.schemas import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    RESERVED_USERNAMES,
    PersonalTokenOut,
    PersonalTokenPage,
    SessionOut,
    TokenPairOut,
    UserPrivate,
    UserPublic,
    check_email,
    check_username,
)
from hub.db import utcnow
from hub.errors import (
    Conflict,
    Forbidden,
    HubError,
    InvalidCredentials,
    NotFound,
    TokenExpired,
    TokenInvalid,
    TokenReused,
    Unauthenticated,
    ValidationFailed,
)
from hub.pagination import PageParams, decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from hub.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

# last_seen / last_used are written at most this often per credential: a page with twenty
# requests must not become twenty writes.
TOUCH_INTERVAL = timedelta(seconds=60)

# Short lists of the passwords people pick first; length alone lets "password" through.
_COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "password123", "12345678", "123456789", "1234567890",
        "qwertyuiop", "qwerty123", "11111111", "00000000", "iloveyou", "abcdefgh",
        "abc12345", "letmein1", "sunshine", "princess", "football", "baseball", "welcome1",
        "admin123", "passw0rd", "88888888", "66666666", "a1234567", "1q2w3e4r", "zxcvbnm1",
    }
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


def default_avatar_url(username: str) -> str:
    return f"/api/v1/users/{username}/avatar.svg"


def user_public(user: User) -> UserPublic:
    return UserPublic(
        user_id=_uid(user),
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        avatar_url=user.avatar_url or default_avatar_url(user.username),
        role=_role(user.role),
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
        user_id=_uid(user),
        username=user.username,
        display_name=user.display_name,
        role=_role(user.role),
        auth=auth,  # type: ignore[arg-type]
        session_id=session_id,
        token_id=token_id,
    )


async def _off_loop(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    # argon2 takes ~170 ms of CPU per call and releases the GIL: in a thread it neither stalls
    # the event loop (rooms keep streaming while someone logs in) nor serialises logins.
    return await asyncio.to_thread(fn, *args, **kwargs)


def _uid(user: User) -> int:
    if user.user_id is None:  # pragma: no cover - only flushed rows get here
        raise RuntimeError("the user row has no id yet; flush first")
    return user.user_id


def _role(value: str) -> RoleName:
    if value not in ("user", "moderator", "admin"):  # pragma: no cover - a CHECK forbids it
        raise ValueError(f"unknown role {value!r}")
    return value  # type: ignore[return-value]


def _clean_display_name(value: str | None) -> str:
    # Names from identity providers are not validated by our schemas: drop control characters.
    kept = "".join(ch for ch in (value or "") if not unicodedata.category(ch).startswith("C"))
    return kept.strip()[:64]


def _field_error(field: str, message: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed(fields=[{"field": field, "message": message, "type": kind}])


# --------------------------------------------------------------------------------------------
# For other domains
# --------------------------------------------------------------------------------------------


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
    return await session.scalar(select(User).where(col(User.username_key) == username.lower()))


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(col(User.email_key) == email.strip().lower()))


def check_password_strength(password: str, *, username: str = "", email: str = "") -> None:
    """Length bounds plus the cheap checks that catch the worst choices."""
    if len(password) < PASSWORD_MIN:
        raise _field_error("password", f"use at least {PASSWORD_MIN} characters", "too_short")
    if len(password) > PASSWORD_MAX:
        raise _field_error("password", f"use at most {PASSWORD_MAX} characters", "too_long")
    lowered = password.lower()
    local = email.split("@", 1)[0].lower()
    if (
        lowered in _COMMON_PASSWORDS
        or len(set(password)) < 3
        or (username and lowered == username.lower())
        or (local and lowered == local)
    ):
        raise _field_error("password", "this password is too easy to guess", "weak_password")


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    username: str,
    password: str | None,
    role: RoleName = "user",
    display_name: str | None = None,
    email_verified: bool = False,
) -> User:
    """Create an account. ``password=None`` makes an account that signs in only through an
    identity provider until its owner sets a password. Raises ``ValidationFailed``,
    ``EmailTaken`` or ``UsernameTaken`` (409, case-insensitive)."""
    try:
        email = check_email(email)
    except ValueError as exc:
        raise _field_error("email", str(exc)) from None
    try:
        username = check_username(username)
    except ValueError as exc:
        raise _field_error("username", str(exc)) from None
    if password is not None:
        check_password_strength(password, username=username, email=email)
    if role not in ("user", "moderator", "admin"):
        raise _field_error("role", "must be user, moderator or admin")
    await _ensure_available(session, email=email, username=username)
    now = utcnow()
    user = User(
        email=email,
        email_key=email.lower(),
        username=username,
        username_key=username.lower(),
        password_hash=await _off_loop(security.hash_password, password)
        if password is not None
        else None,
        display_name=_clean_display_name(display_name) or username,
        role=role,
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


async def create_personal_token(
    session: AsyncSession, user: User, *, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new personal API token. The secret is returned here once and only its digest is kept."""
    secret = security.new_secret(security.PAT_PREFIX)
    now = utcnow()
    row = ApiToken(
        user_id=_uid(user),
        name=name.strip()[:64] or "token",
        token_hash=security.digest(secret),
        token_prefix=secret[: len(security.PAT_PREFIX) + 4],
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    await session.flush()
    return row, secret


# --------------------------------------------------------------------------------------------
# Passwords and sign-up
# --------------------------------------------------------------------------------------------


async def authenticate_password(
    session: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    login: str,
    password: str,
    ip: str,
) -> User:
    """The user behind ``login`` (email or username) and ``password``.

    Rate-limited per client IP (``rate_limit_login_ip``, generous: many people share an IP) and
    per account name (``rate_limit_login``, strict) *before* the password is checked, so a
    locked-out attacker learns nothing more. The budget is per name as typed (email and username
    count apart): keying it by the user found would tell which email and username belong
    together. Unknown users and wrong passwords get the same error and the same argon2 cost (no
    user enumeration, not even by timing).
    """
    login_key = login.strip().lower()
    await limiter.hit(settings.rate_limit_login_ip, "login-ip", ip)
    await limiter.hit(settings.rate_limit_login, "login-account", login_key)
    column = User.email_key if "@" in login_key else User.username_key
    user = await session.scalar(select(User).where(col(column) == login_key))
    if not await _off_loop(
        security.verify_password, user.password_hash if user else None, password
    ):
        raise InvalidCredentials()
    if user is None or user.password_hash is None:  # pragma: no cover - verify_password said no
        raise InvalidCredentials()
    if not user.is_active:
        raise AccountDisabled()
    if security.password_needs_rehash(user.password_hash):
        user.password_hash = await _off_loop(security.hash_password, password)
        await session.flush()
    return user


# --------------------------------------------------------------------------------------------
# Browser sessions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedSession:
    user: User
    cookie_value: str
    csrf_token: str
    session_id: str
    max_age: int


@dataclass(frozen=True)
class ResolvedSession:
    user: User
    session_id: str
    csrf_token: str
    # True when the expiry slid forward in this request: the cookie should be sent again.
    refreshed: bool


async def start_session(
    session: AsyncSession,
    user: User,
    *,
    settings: Settings,
    sockets: SocketCloser,
    user_agent: str = "",
    ip: str = "",
    replaces: str | None = None,
) -> StartedSession:
    """A new server-side browser session. ``replaces`` (the cookie the browser still sent) is
    ended so that one browser holds one session (with the sockets it admitted)."""
    if replaces and await end_session(session, replaces):
        end_connections(session, sockets, [session_key(security.digest(replaces))], SIGNED_OUT)
    now = utcnow()
    cookie_value = security.new_secret()
    row = BrowserSession(
        session_id=security.digest(cookie_value),
        user_id=_uid(user),
        csrf_token=security.new_secret(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.session_max_age),
        user_agent=user_agent[:512],
        ip=ip[:64],
    )
    session.add(row)
    await session.execute(
        delete(BrowserSession).where(
            col(BrowserSession.user_id) == user.user_id, col(BrowserSession.expires_at) <= now
        )
    )
    await session.flush()
    return StartedSession(
        user=user,
        cookie_value=cookie_value,
        csrf_token=row.csrf_token,
        session_id=row.session_id,
        max_age=settings.session_max_age,
    )


async def register(
    session: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    sockets: SocketCloser,
    email: str,
    username: str,
    password: str,
    display_name: str | None,
    ip: str,
    user_agent: str = "",
) -> StartedSession:
    """Self-service sign-up: creates the account and signs the browser in."""
    if not settings.registration_open:
        raise RegistrationClosed()
    await limiter.hit(settings.rate_limit_register, "register-ip", ip)
    user = await create_user(
        session, email=email, username=username, password=password, display_name=display_name
    )
    return await start_session(
        session, user, settings=settings, sockets=sockets, user_agent=user_agent, ip=ip
    )


async def login(
    session: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    sockets: SocketCloser,
    login: str,
    password: str,
    ip: str,
    user_agent: str = "",
    replaces: str | None = None,
) -> StartedSession:
    user = await authenticate_password(
        session, settings=settings, limiter=limiter, login=login, password=password, ip=ip
    )
    return await start_session(
        session,
        user,
        settings=settings,
        sockets=sockets,
        user_agent=user_agent,
        ip=ip,
        replaces=replaces,
    )


async def end_session(session: AsyncSession, cookie_value: str) -> bool:
    """Logout: the row goes, so the cookie is worthless from now on (even if replayed)."""
    result = await session.execute(
        delete(BrowserSession).where(
            col(BrowserSession.session_id) == security.digest(cookie_value)
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def resolve_session(
    session: AsyncSession, *, settings: Settings, cookie_value: str
) -> ResolvedSession | None:
    """The live session behind a cookie, sliding its expiry; None when unknown, expired or the
    account is disabled."""
    session_id = security.digest(cookie_value)
    row = (
        await session.execute(
            select(BrowserSession, User)
            .join(User, col(User.user_id) == col(BrowserSession.user_id))
            .where(col(BrowserSession.session_id) == session_id)
        )
    ).first()
    if row is None:
        return None
    browser_session, user = row
    now = utcnow()
    if browser_session.expires_at <= now:
        await session.delete(browser_session)
        await session.flush()
        return None
    if not user.is_active:
        return None
    refreshed = False
    if now - browser_session.last_seen_at >= TOUCH_INTERVAL:
        browser_session.last_seen_at = now
        browser_session.expires_at = now + timedelta(seconds=settings.session_max_age)
        await session.flush()
        refreshed = True
    return ResolvedSession(
        user=user,
        session_id=session_id,
        csrf_token=browser_session.csrf_token,
        refreshed=refreshed,
    )


async def logout(session: AsyncSession, actor: Actor | None, *, sockets: SocketCloser) -> None:
    """End the browser session behind ``actor`` and close the sockets it admitted; bearer
    callers and anonymous ones are a no-op (API clients sign out with ``/auth/revoke``)."""
    if actor is not None and actor.auth == "session" and actor.session_id is not None:
        await session.execute(
            delete(BrowserSession).where(col(BrowserSession.session_id) == actor.session_id)
        )
        end_connections(session, sockets, [session_key(actor.session_id)], SIGNED_OUT)


async def revoke_sessions(
    session: AsyncSession, user_id: int, *, keep_session_id: str | None = None
) -> list[str]:
    """End the user's browser sessions (but ``keep_session_id``); returns the ended ids."""
    query = delete(BrowserSession).where(col(BrowserSession.user_id) == user_id)
    if keep_session_id is not None:
        query = query.where(col(BrowserSession.session_id) != keep_session_id)
    result = await session.execute(query.returning(col(BrowserSession.session_id)))
    return list(result.scalars())


async def ended_credentials(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` (``hub.accounts.credentials``) name a credential that admits nobody any
    more: a session that ended, a revoked refresh family or personal token, a deleted or disabled
    user. For connections that may have missed the close (the bus was down)."""
    ids: dict[str, dict[str, str]] = {"session": {}, "family": {}, "pat": {}, "user": {}}
    for key in keys:
        parsed = parse_key(key)
        if parsed is not None:
            ids[parsed[0]][parsed[1]] = key
    live: set[str] = set()
    if ids["session"]:
        found = await session.scalars(
            select(col(BrowserSession.session_id)).where(
                col(BrowserSession.session_id).in_(ids["session"])
            )
        )
        live.update(ids["session"][sid] for sid in found)
    if ids["family"]:
        found = await session.scalars(
            select(col(RefreshFamily.family_id)).where(
                col(RefreshFamily.family_id).in_(ids["family"]),
                col(RefreshFamily.revoked_at).is_(None),
            )
        )
        live.update(ids["family"][fid] for fid in found)
    pats = {int(v): k for v, k in ids["pat"].items() if v.isdigit() and len(v) < 19}
    if pats:
        found_ids = await session.scalars(
            select(col(ApiToken.token_id)).where(
                col(ApiToken.token_id).in_(pats), col(ApiToken.revoked_at).is_(None)
            )
        )
        live.update(pats[tid] for tid in found_ids if tid is not None)
    users = {int(v): k for v, k in ids["user"].items() if v.isdigit() and len(v) < 19}
    if users:
        found_ids = await session.scalars(
            select(col(User.user_id)).where(
                col(User.user_id).in_(users), col(User.is_active).is_(True)
            )
        )
        live.update(users[uid] for uid in found_ids if uid is not None)
    named = {key for by_id in ids.values() for key in by_id.values()}
    return named - live


# --------------------------------------------------------------------------------------------
# Access and refresh tokens
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshOutcome:
    """What a refresh produced. A reuse must *commit* the family's revocation and still fail,
    so the error travels as a value and the route raises it after the unit of work."""

    pair: TokenPairOut | None = None
    error: HubError | None = None

    def unwrap(self) -> TokenPairOut:
        if self.error is not None:
            raise self.error
        if self.pair is None:  # pragma: no cover - one of the two is always set
            raise RuntimeError("empty refresh outcome")
        return self.pair


async def _issue_pair(
    session: AsyncSession, *, settings: Settings, user_id: int, family_id: str
) -> TokenPairOut:
    secret = security.new_secret(security.REFRESH_PREFIX)
    now = utcnow()
    session.add(
        RefreshToken(
            token_hash=security.digest(secret),
            family_id=family_id,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl),
        )
    )
    await session.flush()
    access, ttl = security.issue_access_token(settings, user_id=user_id, family_id=family_id)
    return TokenPairOut(
        access_token=access,
        expires_in=ttl,
        refresh_token=secret,
        refresh_expires_in=settings.refresh_token_ttl,
    )


async def issue_tokens(
    session: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    login: str,
    password: str,
    ip: str,
) -> TokenPairOut:
    """Password grant for API clients: a new refresh-token family and its first pair."""
    user = await authenticate_password(
        session, settings=settings, limiter=limiter, login=login, password=password, ip=ip
    )
    family = RefreshFamily(family_id=security.new_id(), user_id=_uid(user), created_at=utcnow())
    session.add(family)
    await session.flush()
    return await _issue_pair(
        session, settings=settings, user_id=_uid(user), family_id=family.family_id
    )


async def _revoke_family(session: AsyncSession, family_id: str, *, reason: str) -> bool:
    result = await session.execute(
        update(RefreshFamily)
        .where(col(RefreshFamily.family_id) == family_id, col(RefreshFamily.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def revoke_refresh_families(
    session: AsyncSession, user_id: int, *, reason: str, keep_family_id: str | None = None
) -> list[str]:
    """Revoke the user's live refresh-token families (but ``keep_family_id``); returns their
    ids."""
    query = (
        update(RefreshFamily)
        .where(col(RefreshFamily.user_id) == user_id, col(RefreshFamily.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if keep_family_id is not None:
        query = query.where(col(RefreshFamily.family_id) != keep_family_id)
    result = await session.execute(query.returning(col(RefreshFamily.family_id)))
    return list(result.scalars())


async def _find_refresh(
    session: AsyncSession, refresh_token: str
) -> tuple[RefreshToken, RefreshFamily, User] | None:
    row = (
        await session.execute(
            select(RefreshToken, RefreshFamily, User)
            .join(RefreshFamily, col(RefreshFamily.family_id) == col(RefreshToken.family_id))
            .join(User, col(User.user_id) == col(RefreshFamily.user_id))
            .where(col(RefreshToken.token_hash) == security.digest(refresh_token))
        )
    ).first()
    if row is None:
        return None
    token, family, user = row
    return token, family, user


async def rotate_refresh_token(
    session: AsyncSession, *, settings: Settings, sockets: SocketCloser, refresh_token: str
) -> RefreshOutcome:
    """Exchange a refresh token for a new pair. Presenting an already-exchanged token means two
    parties hold the family (one of them a thief): the whole family is revoked, and its sockets
    closed."""
    found = await _find_refresh(session, refresh_token)
    if found is None:
        raise TokenInvalid("The refresh token is not valid.")
    token, family, user = found
    now = utcnow()
    if token.used_at is not None:
        await _revoke_family(session, family.family_id, reason="reuse")
        end_connections(session, sockets, [family_key(family.family_id)], TOKEN_REVOKED)
        return RefreshOutcome(error=TokenReused())
    if family.revoked_at is not None:
        raise TokenInvalid("The refresh token was revoked.")
    if token.expires_at <= now:
        raise TokenExpired("The refresh token has expired; sign in again.")
    if not user.is_active:
        raise AccountDisabled()
    # One conditional statement claims the token: of two concurrent refreshes exactly one wins,
    # the other is a reuse (a read-then-write would let both through).
    claimed = await session.execute(
        update(RefreshToken)
        .where(
            col(RefreshToken.refresh_token_id) == token.refresh_token_id,
            col(RefreshToken.used_at).is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        await _revoke_family(session, family.family_id, reason="reuse")
        end_connections(session, sockets, [family_key(family.family_id)], TOKEN_REVOKED)
        return RefreshOutcome(error=TokenReused())
    pair = await _issue_pair(
        session, settings=settings, user_id=_uid(user), family_id=family.family_id
    )
    return RefreshOutcome(pair=pair)


async def revoke_refresh_token(
    session: AsyncSession, *, sockets: SocketCloser, refresh_token: str
) -> bool:
    """Sign an API client out: its refresh token and every access token of its family stop
    working, and the sockets they opened close. False when the token is unknown or its family
    was already revoked."""
    found = await _find_refresh(session, refresh_token)
    if found is None:
        return False
    family_id = found[1].family_id
    revoked = await _revoke_family(session, family_id, reason="revoked")
    if revoked:
        end_connections(session, sockets, [family_key(family_id)], SIGNED_OUT)
    return revoked


async def resolve_access_token(session: AsyncSession, *, settings: Settings, token: str) -> Actor:
    claims = security.read_access_token(settings, token)
    row = (
        await session.execute(
            select(User, col(RefreshFamily.revoked_at))
            .join(RefreshFamily, col(RefreshFamily.user_id) == col(User.user_id))
            .where(
                col(User.user_id) == claims.user_id,
                col(RefreshFamily.family_id) == claims.family_id,
            )
        )
    ).first()
    if row is None:
        raise TokenInvalid("The access token does not belong to a known sign-in.")
    user, revoked_at = row
    if revoked_at is not None:
        raise TokenInvalid("The access token was revoked.")
    if not user.is_active:
        raise AccountDisabled()
    return actor_for(user, auth="access_token", token_id=claims.family_id)


async def resolve_personal_token(session: AsyncSession, *, token: str) -> Actor:
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, col(User.user_id) == col(ApiToken.user_id))
            .where(col(ApiToken.token_hash) == security.digest(token))
        )
    ).first()
    if row is None:
        raise TokenInvalid("The personal token is not valid.")
    api_token, user = row
    now = utcnow()
    if api_token.revoked_at is not None:
        raise TokenInvalid("The personal token was revoked.")
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise TokenExpired("The personal token has expired.")
    if not user.is_active:
        raise AccountDisabled()
    if api_token.last_used_at is None or now - api_token.last_used_at >= TOUCH_INTERVAL:
        api_token.last_used_at = now
        await session.flush()
    return actor_for(user, auth="api_token", token_id=str(api_token.token_id))


async def resolve_bearer(session: AsyncSession, *, settings: Settings, token: str) -> Actor:
    """An access token or a personal token (told apart by the ``hub_pat_`` prefix)."""
    if token.startswith(security.PAT_PREFIX):
        return await resolve_personal_token(session, token=token)
    return await resolve_access_token(session, settings=settings, token=token)


# --------------------------------------------------------------------------------------------
# The signed-in user's own account
# --------------------------------------------------------------------------------------------


async def access_me(session: AsyncSession, actor: Actor) -> User:
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound("The account no longer exists.")
    return user


async def session_view(
    session: AsyncSession, actor: Actor, *, csrf_token: str | None
) -> SessionOut:
    if actor.auth != "session" or csrf_token is None:
        raise Unauthenticated("There is no browser session; this is for cookie sign-ins.")
    return SessionOut(user=user_private(await access_me(session, actor)), csrf_token=csrf_token)


def _require_interactive(actor: Actor, what: str) -> None:
    # A leaked script token must not be able to mint more tokens or lock the owner out.
    if actor.auth == "api_token":
        raise Forbidden(f"Personal API tokens cannot {what}; sign in first.")


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
    return user


async def change_password(
    session: AsyncSession,
    actor: Actor,
    *,
    settings: Settings,
    limiter: RateLimiter,
    sockets: SocketCloser,
    current_password: str | None,
    new_password: str,
) -> User:
    """Set a new password. Every other browser session and every refresh-token family ends, with
    the sockets they admitted; the credential making this request stays signed in. Personal
    tokens stay (they are revoked one by one, on purpose), and so do their sockets."""
    _require_interactive(actor, "change the password")
    await limiter.hit(settings.rate_limit_login, "password-change", str(actor.user_id))
    user = await access_me(session, actor)
    if user.password_hash is not None and not await _off_loop(
        security.verify_password, user.password_hash, current_password or ""
    ):
        raise InvalidCredentials("The current password is wrong.", status=403)
    check_password_strength(new_password, username=user.username, email=user.email)
    user.password_hash = await _off_loop(security.hash_password, new_password)
    user.updated_at = utcnow()
    keep_session = actor.session_id if actor.auth == "session" else None
    sessions = await revoke_sessions(session, actor.user_id, keep_session_id=keep_session)
    keep_family = actor.token_id if actor.auth == "access_token" else None
    families = await revoke_refresh_families(
        session, actor.user_id, reason="password_changed", keep_family_id=keep_family
    )
    ended = [*map(session_key, sessions), *map(family_key, families)]
    end_connections(session, sockets, ended, PASSWORD_CHANGED)
    await session.flush()
    return user


async def create_my_token(
    session: AsyncSession, actor: Actor, *, name: str, expires_in_days: int | None
) -> tuple[ApiToken, str]:
    _require_interactive(actor, "create tokens")
    user = await access_me(session, actor)
    return await create_personal_token(session, user, name=name, expires_in_days=expires_in_days)


def personal_token_out(row: ApiToken) -> PersonalTokenOut:
    if row.token_id is None:  # pragma: no cover - only flushed rows get here
        raise RuntimeError("the token row has no id yet; flush first")
    return PersonalTokenOut(
        token_id=row.token_id,
        name=row.name,
        token_prefix=row.token_prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


async def list_personal_tokens(
    session: AsyncSession, actor: Actor, *, params: PageParams
) -> PersonalTokenPage:
    """The actor's live (not revoked) personal tokens, newest first, without secrets."""
    query = select(ApiToken).where(
        col(ApiToken.user_id) == actor.user_id, col(ApiToken.revoked_at).is_(None)
    )
    if params.cursor:
        created_at, token_id = decode_cursor(params.cursor)
        if not isinstance(token_id, int):
            raise ValidationFailed(fields=[{"field": "cursor", "message": "is not valid"}])
        query = query.where(
            or_(
                col(ApiToken.created_at) < created_at,
                and_(col(ApiToken.created_at) == created_at, col(ApiToken.token_id) < token_id),
            )
        )
    query = query.order_by(col(ApiToken.created_at).desc(), col(ApiToken.token_id).desc())
    rows = list(await session.scalars(query.limit(params.limit + 1)))
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor(last.created_at, last.token_id)
    return PersonalTokenPage(items=[personal_token_out(r) for r in rows], next_cursor=next_cursor)


async def revoke_personal_token(
    session: AsyncSession, actor: Actor, *, sockets: SocketCloser, token_id: int
) -> None:
    """Revoke one of the actor's tokens and close the sockets it opened. Someone else's token is
    "not found", as is a revoked one."""
    _require_interactive(actor, "revoke tokens")
    row = await session.get(ApiToken, token_id)
    if row is None or row.user_id != actor.user_id or row.revoked_at is not None:
        raise NotFound("No such token.")
    row.revoked_at = utcnow()
    end_connections(session, sockets, [personal_token_key(token_id)], TOKEN_REVOKED)
    await session.flush()


# --------------------------------------------------------------------------------------------
# Public profiles and roles
# --------------------------------------------------------------------------------------------


async def access_profile(session: AsyncSession, *, username: str) -> UserPublic:
    user = await get_user_by_username(session, username)
    if user is None or not user.is_active:
        raise NotFound("No such user.")
    return user_public(user)


ROLE_RANK: dict[str, int] = {"user": 0, "moderator": 1, "admin": 2}


async def set_role(
    session: AsyncSession,
    actor: Actor | None,
    *,
    sockets: SocketCloser,
    user_id: int,
    role: RoleName,
) -> User:
    """Change a user's role. ``actor=None`` is the command line (an operator with shell access).
    The last active admin cannot be demoted: nobody could promote anyone again. A lower role
    closes every socket of the user (they were admitted with the rights of the old one); a
    higher one leaves them open (the next handshake gets the new role)."""
    if actor is not None and actor.role != "admin":
        raise Forbidden("Only admins can change roles.")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.role == "admin" and role != "admin":
        admins = await session.scalar(
            select(func.count())
            .select_from(User)
            .where(col(User.role) == "admin", col(User.is_active).is_(True))
        )
        if (admins or 0) <= 1 and user.is_active:
            raise LastAdmin()
    if ROLE_RANK[role] < ROLE_RANK[user.role]:
        end_connections(session, sockets, [user_key(user_id)], ROLE_CHANGED)
    user.role = role
    user.updated_at = utcnow()
    await session.flush()
    return user


# --------------------------------------------------------------------------------------------
# External identities (OIDC)
# --------------------------------------------------------------------------------------------


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


async def sign_in_with_identity(
    session: AsyncSession,
    *,
    sockets: SocketCloser,
    provider: str,
    subject: str,
    email: str | None,
    email_verified: bool,
    name: str | None = None,
    preferred_username: str | None = None,
) -> User:
    """The account for a verified OIDC identity: the one already linked, else the account with
    the same *verified* email (then linked), else a new account.

    An unverified email never links. When a verified email links to an account whose own email
    was never verified, that account's password, sessions and tokens are revoked: someone may have
    registered the address before its owner (pre-hijacking), and the provider just proved who the
    owner is.
    """
    identity = await session.scalar(
        select(Identity).where(col(Identity.provider) == provider, col(Identity.subject) == subject)
    )
    if identity is not None:
        user = await session.get(User, identity.user_id)
        if user is None:  # pragma: no cover - the foreign key cascades
            raise NotFound("The linked account no longer exists.")
        if not user.is_active:
            raise AccountDisabled()
        identity.email = email
        await session.flush()
        return user
    if not email:
        raise OIDCFailed("The identity provider did not share an email address.")
    existing = await get_user_by_email(session, email)
    if existing is not None:
        if not email_verified:
            raise Conflict(
                "An account already uses this email address, and the identity provider has not "
                "verified it; sign in with your password instead."
            )
        if not existing.is_active:
            raise AccountDisabled()
        uid = _uid(existing)
        if not existing.email_verified:
            existing.password_hash = None
            existing.email_verified = True
            await revoke_sessions(session, uid)
            await revoke_refresh_families(session, uid, reason="identity_linked")
            end_connections(session, sockets, [user_key(uid)], SIGNED_OUT)
            await session.execute(
                update(ApiToken)
                .where(
                    col(ApiToken.user_id) == existing.user_id, col(ApiToken.revoked_at).is_(None)
                )
                .values(revoked_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        user = existing
    else:
        local = email.split("@", 1)[0]
        username = await derive_username(session, preferred_username, local, name)
        user = await create_user(
            session,
            email=email,
            username=username,
            password=None,
            display_name=name,
            email_verified=email_verified,
        )
    session.add(Identity(user_id=_uid(user), provider=provider, subject=subject, email=email))
    await session.flush()
    return user


async def start_identity_session(
    session: AsyncSession,
    *,
    settings: Settings,
    sockets: SocketCloser,
    provider: str,
    claims: IdentityClaims,
    ip: str = "",
    user_agent: str = "",
    replaces: str | None = None,
) -> StartedSession:
    """The OIDC callback's work: find, link or create the account, then sign the browser in."""
    user = await sign_in_with_identity(
        session,
        sockets=sockets,
        provider=provider,
        subject=claims.subject,
        email=claims.email,
        email_verified=claims.email_verified,
        name=claims.name,
        preferred_username=claims.preferred_username,
    )
    return await start_session(
        session,
        user,
        settings=settings,
        sockets=sockets,
        user_agent=user_agent,
        ip=ip,
        replaces=replaces,
    )


# --------------------------------------------------------------------------------------------
# Housekeeping
# --------------------------------------------------------------------------------------------


async def purge_expired(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete expired sessions and refresh tokens (a periodic job may call this)."""
    now = now or utcnow()
    sessions = await session.execute(
        delete(BrowserSession).where(col(BrowserSession.expires_at) <= now)
    )
    tokens = await session.execute(delete(RefreshToken).where(col(RefreshToken.expires_at) <= now))
    return int(getattr(sessions, "rowcount", 0) or 0) + int(getattr(tokens, "rowcount", 0) or 0)
