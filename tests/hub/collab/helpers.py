"""URLs, clients and sockets for tests against the hub behind a real uvicorn (``tests/live.py``)."""

from __future__ import annotations

import httpx

from hub.context import HubContext
from tests.hub.collab.conftest import TestUser
from tests.live import LiveServer
from tests.rooms.ykit import YClient


def hub_ctx(live: LiveServer) -> HubContext:
    ctx: HubContext = live.app.state.ctx
    return ctx


def http(live: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=live.http_url, timeout=10)


def yjs_url(live: LiveServer, slug: str, user: TestUser | None = None, **query: str) -> str:
    if user is not None:
        query["token"] = user.token
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{live.ws_url}/yjs/{slug}" + (f"?{qs}" if qs else "")


def events_url(live: LiveServer, slug: str, user: TestUser | None = None, **query: str) -> str:
    if user is not None:
        query["token"] = user.token
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{live.ws_url}/rooms/{slug}/events" + (f"?{qs}" if qs else "")


async def joined(url: str, name: str) -> YClient:
    client = YClient(url, name=name)
    await client.connect()
    await client.wait_synced()
    return client


async def refused(url: str) -> int:
    """Connects and returns the close code the server ends the socket with."""
    client = YClient(url, name="x")
    await client.connect()
    try:
        return await client.wait_closed()
    finally:
        await client.close()
