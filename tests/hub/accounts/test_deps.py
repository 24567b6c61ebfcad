"""hub.accounts.deps: the actor API other domains use (HTTP and WebSocket handshakes)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from starlette.requests import HTTPConnection

from hub.accounts.deps import (
    authenticate_websocket,
    current_actor,
    require_actor,
)
from hub.accounts.models import BrowserSession
from hub.errors import Unauthenticated

from .helpers import session_count, signed_up, token_pair


def _socket(app: Any, *, cookie: str | None = None) -> HTTPConnection:
    headers = [(b"cookie", f"hub_session={cookie}".encode())] if cookie else []
    scope = {
        "type": "websocket",
        "path": "/yjs/room",
        "query_string": b"",
        "headers": headers,
        "app": app,
        "state": {},
    }
    return HTTPConnection(scope)


async def test_websocket_auth_by_cookie(app: Any, client: httpx.AsyncClient) -> None:
    await signed_up(client)
    actor = await authenticate_websocket(_socket(app, cookie=client.cookies["hub_session"]), None)
    assert actor is not None
    assert (actor.username, actor.auth, actor.role) == ("alice", "session", "user")
    assert actor.session_id is not None
    assert await authenticate_websocket(_socket(app, cookie="stale"), None) is None
    assert await authenticate_websocket(_socket(app), None) is None


async def test_websocket_auth_by_token(app: Any, client: httpx.AsyncClient) -> None:
    csrf = await signed_up(client)
    pair = await token_pair(client)
    pat = await client.post(
        "/api/v1/me/tokens", json={"name": "ws"}, headers={"x-csrf-token": csrf}
    )
    access = await authenticate_websocket(_socket(app), pair["access_token"])
    personal = await authenticate_websocket(_socket(app), pat.json()["secret"])
    assert access is not None
    assert personal is not None
    assert (access.auth, access.token_id) == ("access_token", access.token_id)
    assert personal.auth == "api_token"
    # A bad token is None (the caller closes with 4401), even when a good cookie is present.
    bad = _socket(app, cookie=client.cookies["hub_session"])
    assert await authenticate_websocket(bad, "forged") is None
    assert await authenticate_websocket(_socket(app), "hub_pat_forged") is None


async def test_current_actor_is_cached_per_request(
    app: Any, client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    conn = _socket(app, cookie=client.cookies["hub_session"])
    first = await current_actor(conn)
    # Even after the session is gone, this request keeps the actor it resolved.
    async with ctx.db.unit_of_work() as session:
        await session.execute(delete(BrowserSession))
    assert await session_count(ctx) == 0
    assert await current_actor(conn) is first
    fresh = _socket(app, cookie=client.cookies["hub_session"])
    with pytest.raises(Unauthenticated):
        await require_actor(fresh)


async def test_multipart_form_may_carry_the_csrf_field(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    response = await client.post(
        "/logout",
        files={"file": ("x.txt", b"hello")},
        data={"csrf_token": csrf},
        headers={"accept": "text/html"},
    )
    assert response.status_code == 303
    assert await session_count(ctx) == 0
