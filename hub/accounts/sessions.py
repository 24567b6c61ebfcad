"""Browser sessions: sign-up and sign-in for browsers, the sliding session cookie, logout, and
the password change (which ends the user's other sessions and every refresh family).

The cookie holds a random secret; the table keeps its SHA-256 (docs/accounts.md, "Browser
sessions"). Ending a session also closes the sockets it admitted (:mod:`credentials`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub import site
from hub.accounts import security
from hub.accounts.actor import Actor, require_interactive
from hub.accounts.credentials import (
    PASSWORD_CHANGED,
    SIGNED_OUT,
    TOUCH_INTERVAL,
    SocketCloser,
    end_connections,
    family_key,
    session_key,
)
from hub.accounts.errors import RegistrationClosed
from hub.accounts.models import BrowserSession, User
from hub.accounts.passwords import (
    authenticate_password,
    check_password_strength,
    hash_password,
    verify_password,
)
from hub.accounts.schemas import BrowserSessionList, BrowserSessionOut, SessionOut, SignedOutOut
from hub.accounts.tokens import revoke_refresh_families
from hub.accounts.users import access_me, create_user, user_id_of, user_private
from hub.db import settings_of, utcnow
from hub.errors import InvalidCredentials, Unauthenticated
from hub.ratelimit import RateLimiter


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
    sockets: SocketCloser,
    user_agent: str = "",
    ip: str = "",
    replaces: str | None = None,
) -> StartedSession:
    """A new server-side browser session. ``replaces`` (the cookie the browser still sent) is
    ended so that one browser holds one session (with the sockets it admitted)."""
    if replaces and await end_session(session, replaces):
        end_connections(session, sockets, [session_key(security.digest(replaces))], SIGNED_OUT)
    settings = settings_of(session)
    now = utcnow()
    cookie_value = security.new_secret()
    row = BrowserSession(
        session_id=security.digest(cookie_value),
        user_id=user_id_of(user),
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
    settings = settings_of(session)
    # The environment can close sign-ups for good; admins close them at run time (hub.site).
    if not settings.registration_open or not (await site.current(session)).signups_open:
        raise RegistrationClosed()
    await limiter.hit(settings.rate_limit_register, "register-ip", ip)
    user = await create_user(
        session, email=email, username=username, password=password, display_name=display_name
    )
    return await start_session(session, user, sockets=sockets, user_agent=user_agent, ip=ip)


async def login(
    session: AsyncSession,
    *,
    limiter: RateLimiter,
    sockets: SocketCloser,
    login: str,
    password: str,
    ip: str,
    user_agent: str = "",
    replaces: str | None = None,
) -> StartedSession:
    user = await authenticate_password(
        session, limiter=limiter, login=login, password=password, ip=ip
    )
    return await start_session(
        session,
        user,
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


async def resolve_session(session: AsyncSession, *, cookie_value: str) -> ResolvedSession | None:
    """The live session behind a cookie, sliding its expiry; None when unknown, expired or the
    account is disabled."""
    max_age = settings_of(session).session_max_age
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
        browser_session.expires_at = now + timedelta(seconds=max_age)
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


async def session_view(
    session: AsyncSession, actor: Actor, *, csrf_token: str | None
) -> SessionOut:
    if actor.auth != "session" or csrf_token is None:
        raise Unauthenticated("There is no browser session; this is for cookie sign-ins.")
    return SessionOut(user=user_private(await access_me(session, actor)), csrf_token=csrf_token)


# --- my sessions ---------------------------------------------------------------------------------

# Enough for the settings page; the table holds one row per live sign-in, expired ones are swept.
MAX_LISTED_SESSIONS = 100


def session_ref(session_id: str) -> str:
    """A public name for a browser session (the session id itself is the cookie's digest)."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


async def list_my_sessions(session: AsyncSession, actor: Actor) -> BrowserSessionList:
    """The actor's live browser sessions, most recently seen first, the current one marked."""
    require_interactive(actor, "list the sessions")
    rows = (
        await session.scalars(
            select(BrowserSession)
            .where(
                col(BrowserSession.user_id) == actor.user_id,
                col(BrowserSession.expires_at) > utcnow(),
            )
            .order_by(col(BrowserSession.last_seen_at).desc(), col(BrowserSession.session_id))
            .limit(MAX_LISTED_SESSIONS)
        )
    ).all()
    items = [
        BrowserSessionOut(
            session_ref=session_ref(row.session_id),
            current=row.session_id == actor.session_id and actor.auth == "session",
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            user_agent=row.user_agent,
            ip=row.ip,
        )
        for row in rows
    ]
    return BrowserSessionList(items=items)


async def sign_out_elsewhere(
    session: AsyncSession, actor: Actor, *, sockets: SocketCloser
) -> SignedOutOut:
    """ "Sign out everywhere": every browser session and refresh-token family of the actor ends,
    with the sockets they admitted, except the credential making this request (so the page
    that asked stays usable; its own "Sign out" ends it). Personal tokens stay, as for a
    password change; they are revoked one by one."""
    require_interactive(actor, "sign out other sessions")
    keep_session = actor.session_id if actor.auth == "session" else None
    ended = await revoke_sessions(session, actor.user_id, keep_session_id=keep_session)
    keep_family = actor.token_id if actor.auth == "access_token" else None
    families = await revoke_refresh_families(
        session, actor.user_id, reason="signed_out", keep_family_id=keep_family
    )
    keys = [*map(session_key, ended), *map(family_key, families)]
    end_connections(session, sockets, keys, SIGNED_OUT)
    return SignedOutOut(sessions=len(ended), token_families=len(families))


# --- the password change ends the other sessions -------------------------------------------------


async def change_password(
    session: AsyncSession,
    actor: Actor,
    *,
    limiter: RateLimiter,
    sockets: SocketCloser,
    current_password: str | None,
    new_password: str,
) -> User:
    """Set a new password. Every other browser session and every refresh-token family ends, with
    the sockets they admitted; the credential making this request stays signed in. Personal
    tokens stay (they are revoked one by one, on purpose), and so do their sockets."""
    require_interactive(actor, "change the password")
    await limiter.hit(settings_of(session).rate_limit_login, "password-change", str(actor.user_id))
    user = await access_me(session, actor)
    if user.password_hash is not None and not await verify_password(
        user.password_hash, current_password or ""
    ):
        raise InvalidCredentials("The current password is wrong.", status=403)
    check_password_strength(new_password, username=user.username, email=user.email)
    user.password_hash = await hash_password(new_password)
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
