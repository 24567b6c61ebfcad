"""Connections end with the credential that admitted them.

A room socket is authenticated once, at its handshake; afterwards nothing re-checks it. So
whatever ends a credential (logout, a revoked token, a password change, a lowered role) must also
close the connections it admitted, on every process (docs/accounts.md, "Sockets end with their
credential"). Accounts names credentials with opaque keys; the sockets remember theirs
(``rooms.types.ConnectionContext.credentials``), and the services here queue a close of the keys
they ended, run after the commit by the :class:`SocketCloser` in ``ctx.sockets`` (the composition
root puts the rooms component there, see ``hub.compose``).

Accounts imports nothing of the domains that hold sockets: they depend on it, not the reverse.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.outbox import after_commit

if TYPE_CHECKING:
    from hub.context import HubContext

# Close reasons (the close code is 4401 for all of them; the reason is for logs and pages).
SIGNED_OUT: Final = "signed out"
TOKEN_REVOKED: Final = "token revoked"  # noqa: S105 - a close reason
PASSWORD_CHANGED: Final = "password changed"  # noqa: S105 - a close reason
ROLE_CHANGED: Final = "role changed"


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
