"""Who is making a request. Re-exported by :mod:`hub.accounts.deps`, which is where other domains
import it from; it lives apart so that the service layer can use it without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hub.accounts.roles import UserRole
from hub.errors import Forbidden

AuthKind = Literal["session", "access_token", "api_token"]


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str
    display_name: str
    role: UserRole
    auth: AuthKind
    # The browser session (SHA-256 of the cookie) when ``auth == "session"``; lets other domains
    # end things tied to one login (e.g. close that session's sockets at logout).
    session_id: str | None = None
    # The refresh-token family for ``access_token``, the personal token id for ``api_token``.
    token_id: str | None = None
    # The account's chosen language and time zone (None: not chosen), for the pages' shell.
    locale: str | None = None
    timezone: str | None = None


def require_interactive(actor: Actor, what: str) -> None:
    """403 for personal API tokens: a leaked script token must not be able to mint more tokens
    or lock the owner out."""
    if actor.auth == "api_token":
        raise Forbidden(f"Personal API tokens cannot {what}; sign in first.")
