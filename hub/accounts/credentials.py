"""Connections end with the credential that admitted them.

A room socket is authenticated once, at its handshake; afterwards nothing re-checks it. So
whatever ends a credential (logout, a revoked token, a password change, a lowered role) must also
close the connections it admitted, on every process (docs/accounts.md, "Sockets end with their
credential"). Accounts names credentials with opaque keys; the sockets remember theirs
(``rooms.types.ConnectionContext.credentials``), and the services here queue a close of the keys
they ended, run after the commit by the :class:`SocketCloser` in ``ctx.sockets`` (the composition
root puts the rooms component there, see ``hub.compose``).

After a bus outage, :func:`ended_credentials` tells which of the keys a process's sockets hold
name credentials that ended meanwhile. :func:`purge_expired` deletes expired ones.

Accounts imports nothing of the domains that hold sockets: they depend on it, not the reverse.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Protocol

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.models import ApiToken, BrowserSession, RefreshFamily, RefreshToken, User
from hub.db import utcnow
from hub.outbox import after_commit
from rooms import close_codes
from rooms.credentials import close_matching_message, connections_channel

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub.settings import Settings

# Close reasons (the close code is 4401 for all of them; the reason is for logs and pages).
SIGNED_OUT: Final = "signed out"
TOKEN_REVOKED: Final = "token revoked"  # noqa: S105 - a close reason
PASSWORD_CHANGED: Final = "password changed"  # noqa: S105 - a close reason
ROLE_CHANGED: Final = "role changed"

# last_seen / last_used are written at most this often per credential: a page with twenty
# requests must not become twenty writes.
TOUCH_INTERVAL = timedelta(seconds=60)


def session_key(session_id: str) -> str:
    """A browser session (its id is the SHA-256 of the cookie, never the cookie)."""
    return f"session:{session_id}"


def family_key(family_id: str) -> str:
    """A refresh-token family: every access token of one API sign-in."""
    return f"family:{family_id}"


def personal_token_key(token_id: int | str) -> str:
    return f"pat:{token_id}"


def user_key(user_id: int) -> str:
    """Every credential of one user."""
    return f"user:{user_id}"


def parse_key(key: str) -> tuple[str, str] | None:
    """``("session" | "family" | "pat" | "user", id)``, or None for anything else."""
    kind, _, value = key.partition(":")
    if kind in ("session", "family", "pat", "user") and value:
        return kind, value
    return None


def actor_keys(actor: Actor) -> frozenset[str]:
    """The keys a connection admitted with ``actor`` carries: its user and its credential."""
    keys = {user_key(actor.user_id)}
    if actor.auth == "session" and actor.session_id:
        keys.add(session_key(actor.session_id))
    elif actor.auth == "access_token" and actor.token_id:
        keys.add(family_key(actor.token_id))
    elif actor.auth == "api_token" and actor.token_id:
        keys.add(personal_token_key(actor.token_id))
    return frozenset(keys)


class SocketCloser(Protocol):
    async def close_credentials(self, keys: Sequence[str], reason: str) -> None:
        """Close every connection holding one of ``keys``, on every process, with 4401."""


class _NoSockets:
    async def close_credentials(self, keys: Sequence[str], reason: str) -> None:
        return None


# For processes without sockets (the command line, a separate worker).
NO_SOCKETS: Final[SocketCloser] = _NoSockets()


def socket_closer(ctx: HubContext) -> SocketCloser:
    return ctx.sockets if ctx.sockets is not None else NO_SOCKETS


def end_connections(
    session: AsyncSession, sockets: SocketCloser, keys: Iterable[str], reason: str
) -> None:
    """Close the connections of ``keys`` once this transaction commits (never on rollback)."""
    ended = sorted(set(keys))
    if not ended:
        return

    async def close() -> None:
        await sockets.close_credentials(ended, reason)

    after_commit(session, close)


async def ended_credentials(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` (see :func:`parse_key`) name a credential that admits nobody any
    more: a session that ended or expired, a revoked refresh family, a revoked or expired
    personal token, a deleted or disabled user. For connections that may have missed the close
    (the bus was down)."""
    ids: dict[str, dict[str, str]] = {"session": {}, "family": {}, "pat": {}, "user": {}}
    for key in keys:
        parsed = parse_key(key)
        if parsed is not None:
            ids[parsed[0]][parsed[1]] = key
    live: set[str] = set()
    now = utcnow()
    if ids["session"]:
        found = await session.scalars(
            select(col(BrowserSession.session_id)).where(
                col(BrowserSession.session_id).in_(ids["session"]),
                col(BrowserSession.expires_at) > now,
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
                col(ApiToken.token_id).in_(pats),
                col(ApiToken.revoked_at).is_(None),
                or_(col(ApiToken.expires_at).is_(None), col(ApiToken.expires_at) > now),
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


async def purge_expired(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete expired sessions and refresh tokens (a periodic job may call this)."""
    now = now or utcnow()
    sessions = await session.execute(
        delete(BrowserSession).where(col(BrowserSession.expires_at) <= now)
    )
    tokens = await session.execute(delete(RefreshToken).where(col(RefreshToken.expires_at) <= now))
    return int(getattr(sessions, "rowcount", 0) or 0) + int(getattr(tokens, "rowcount", 0) or 0)


class BusSocketCloser:
    """The :class:`~hub.accounts.credentials.SocketCloser` of a process that serves no sockets
    but shares the web processes' Redis bus (the command line): it publishes the close that
    every web process's rooms server applies (``RoomServer.close_matching``).

    It connects only when something is to be closed, and never raises: ``error`` says why the
    close could not be published (the change it follows is committed either way)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ValueError("BusSocketCloser needs REDIS_URL")
        self.settings = settings
        self.requested = False  # something was to be closed
        self.published = False
        self.error = ""

    async def close_credentials(self, keys: Sequence[str], reason: str) -> None:
        # The web processes' bus in scaled mode (hub.compose.make_bus builds the same one).
        from rooms.bus_redis import RedisBus

        self.requested = True
        _, message = close_matching_message(keys, close_codes.UNAUTHENTICATED, reason)
        channel = connections_channel(self.settings.room_channel_prefix)
        bus = RedisBus(self.settings.redis_url)
        try:
            await bus.start()
            await bus.publish(channel, message)
        except Exception as exc:
            self.error = str(exc) or type(exc).__name__
        else:
            self.published = True
        finally:
            await bus.stop()
