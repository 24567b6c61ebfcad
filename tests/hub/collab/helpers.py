"""Running the hub behind a real uvicorn several times in one test (restarts, two processes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from hub.context import HubContext
from hub.settings import Settings
from tests.conftest import LiveServer
from tests.helpers import eventually, free_port
from tests.hub.collab.conftest import TestUser
from tests.rooms.ykit import YClient


@contextlib.asynccontextmanager
async def serve_hub(settings: Settings, **overrides: Any) -> AsyncIterator[LiveServer]:
    """The app on a free port, as ``hub serve`` runs it (websockets-sansio, no compression)."""
    from hub.app import create_app

    port = free_port()
    settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}", **overrides})
    application = create_app(settings)
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_size,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), timeout=10, message="uvicorn start")
    if task.done():
        task.result()
    try:
        yield LiveServer(application, port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


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
