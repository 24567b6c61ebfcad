"""Who is calling: the API every other domain uses to authenticate requests and sockets.

```python
actor = await require_actor(request)      # 401 without credentials; CSRF-checked when needed
```

Site roles are checked with :func:`hub.accounts.roles.require_role`, in the service.

- Credentials: ``Authorization: Bearer <access token | hub_pat_ token>`` first, else the
  ``hub_session`` cookie. A bearer header that is malformed, forged, expired or revoked is an error
  (401 ``token_invalid`` / ``token_expired``), never silently anonymous; a stale cookie is simply
  no session (browsers keep cookies after logout).
- CSRF: when the actor comes from the session cookie and the method is unsafe (POST, PUT, PATCH,
  DELETE), :func:`current_actor` itself checks the Origin header (if present it must be one of
  ``settings.allowed_origins``) and the ``X-CSRF-Token`` header (or a ``csrf_token`` form field)
  against the session's token, and raises 403 ``csrf_failed`` otherwise. Routes therefore cannot
  forget it. Bearer requests are exempt: a cross-site page cannot set that header.
- The result is cached on ``conn.state`` for the rest of the request.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import HTTPConnection, Request

from hub.accounts import sessions, tokens, users
from hub.accounts.actor import Actor, AuthKind
from hub.accounts.credentials import socket_closer
from hub.accounts.schemas import LoginIn, RegisterIn
from hub.accounts.security import PAT_PREFIX, read_access_token, same_secret
from hub.api import client_ip, user_agent
from hub.context import HubContext, get_ctx
from hub.errors import CSRFFailed, HubError, TokenInvalid, Unauthenticated

__all__ = [
    "Actor",
    "AuthKind",
    "authenticate_websocket",
    "check_csrf",
    "csrf_token_for",
    "current_actor",
    "reject_foreign_origin",
    "require_actor",
]

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# conn.state keys (scope["state"]): the resolved actor, the session's CSRF token, and the cookie
# to send again because the session's expiry slid (read by SessionCookieMiddleware).
STATE_ACTOR = "hub_actor"
STATE_CSRF = "hub_csrf_token"
STATE_REFRESH_COOKIE = "hub_session_refresh"
_UNSET: Any = object()


def _state(conn: HTTPConnection) -> dict[str, Any]:
    state: dict[str, Any] = conn.scope.setdefault("state", {})
    return state


async def current_actor(conn: HTTPConnection) -> Actor | None:
    """The caller, or None when no credentials were sent (or the cookie is stale)."""
    state = _state(conn)
    cached = state.get(STATE_ACTOR, _UNSET)
    if cached is not _UNSET:
        actor: Actor | None = cached
        return actor
    actor = await _resolve(conn)
    if actor is not None and actor.auth == "session" and _is_unsafe(conn):
        await check_csrf(conn)
    state[STATE_ACTOR] = actor
    return actor


async def require_actor(conn: HTTPConnection) -> Actor:
    actor = await current_actor(conn)
    if actor is None:
        raise Unauthenticated()
    return actor


async def authenticate_websocket(conn: HTTPConnection, token: str | None) -> Actor | None:
    """For socket handshakes: ``?token=`` (access or personal token) if given, else the session
    cookie. Any failure is None; the caller closes with 4401. The Origin check is the caller's
    (it must happen before accept)."""
    ctx = get_ctx(conn)
    try:
        async with ctx.db.unit_of_work() as session:
            if token:
                return await tokens.resolve_bearer(session, token=token)
            cookie = conn.cookies.get(ctx.settings.session_cookie_name)
            if not cookie:
                return None
            resolved = await sessions.resolve_session(session, cookie_value=cookie)
    except HubError:
        return None
    if resolved is None:
        return None
    return users.actor_for(resolved.user, auth="session", session_id=resolved.session_id)


def csrf_token_for(conn: HTTPConnection) -> str | None:
    """The CSRF token of the session resolved for this request (for forms in templates)."""
    token: str | None = _state(conn).get(STATE_CSRF)
    return token


def reject_foreign_origin(conn: HTTPConnection) -> None:
    """403 ``csrf_failed`` when an Origin header is present and not one of ours."""
    origin = conn.headers.get("origin")
    if origin is None:
        return
    if origin.rstrip("/") not in get_ctx(conn).settings.allowed_origins:
        raise CSRFFailed("The request comes from a foreign origin.", origin=origin)


async def check_csrf(conn: HTTPConnection, expected: str | None = None) -> None:
    """The Origin and token check for cookie-authenticated unsafe requests. ``expected`` defaults
    to the resolved session's token (the double-submit cookie for forms without a session)."""
    reject_foreign_origin(conn)
    expected = expected or csrf_token_for(conn)
    given = conn.headers.get(CSRF_HEADER)
    if given is None and isinstance(conn, Request):
        content_type = conn.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in _FORM_TYPES:
            form = await conn.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if expected is None or not same_secret(given, expected):
        raise CSRFFailed()


def _is_unsafe(conn: HTTPConnection) -> bool:
    return conn.scope["type"] == "http" and conn.scope.get("method", "GET") in UNSAFE_METHODS


async def _resolve(conn: HTTPConnection) -> Actor | None:
    ctx = get_ctx(conn)
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise TokenInvalid("Send credentials as 'Authorization: Bearer <token>'.")
        return await _resolve_bearer(ctx, credentials)
    cookie = conn.cookies.get(ctx.settings.session_cookie_name)
    if not cookie:
        return None
    async with ctx.db.unit_of_work() as session:
        resolved = await sessions.resolve_session(session, cookie_value=cookie)
    if resolved is None:
        return None
    state = _state(conn)
    state[STATE_CSRF] = resolved.csrf_token
    if resolved.refreshed:
        state[STATE_REFRESH_COOKIE] = cookie
    return users.actor_for(resolved.user, auth="session", session_id=resolved.session_id)


async def _resolve_bearer(ctx: HubContext, token: str) -> Actor:
    """Through the process's actor cache (hub/accounts/actorcache.py) when there is one. An
    access token's signature and expiry are checked on every request, cached or not."""
    cache = ctx.actors
    claims = None if token.startswith(PAT_PREFIX) else read_access_token(ctx.settings, token)
    if cache is not None:
        actor = cache.get(token)
        if actor is not None:
            return actor
    async with ctx.db.unit_of_work() as session:
        if claims is None:
            actor, expires_at = await tokens.resolve_personal_token_until(session, token=token)
        else:
            actor, expires_at = await tokens.resolve_access_claims(session, claims), None
    if cache is not None:
        cache.put(token, actor, expires_at=expires_at)
    return actor


# --- signing a browser in (the JSON API and the HTML forms alike) -----------------------------


async def register_browser(request: Request, body: RegisterIn) -> sessions.StartedSession:
    """:func:`sessions.register` for this request, in a unit of work of its own."""
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        return await sessions.register(
            session,
            limiter=ctx.limiter,
            sockets=socket_closer(ctx),
            email=body.email,
            username=body.username,
            password=body.password,
            display_name=body.display_name,
            ip=client_ip(request),
            user_agent=user_agent(request),
        )


async def login_browser(request: Request, body: LoginIn) -> sessions.StartedSession:
    """:func:`sessions.login` for this request (replacing its current session cookie, if any),
    in a unit of work of its own."""
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        return await sessions.login(
            session,
            limiter=ctx.limiter,
            sockets=socket_closer(ctx),
            login=body.login,
            password=body.password,
            ip=client_ip(request),
            user_agent=user_agent(request),
            replaces=request.cookies.get(ctx.settings.session_cookie_name),
        )
