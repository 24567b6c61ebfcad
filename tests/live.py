"""A real uvicorn in the test's own event loop: the one way the suite serves an ASGI app on a port.

``serve_hub`` runs the hub as ``hub serve`` does (websockets-sansio, no compression, the
settings' frame limit) and leaves the database alone, so a test can restart it or start a second
one on the same database. ``serve_test_hub`` is the same for one test: afterwards it empties a
Postgres database, which outlives the test (SQLite files are per test). The fixtures
``live_server`` and ``live`` in ``tests/conftest.py`` are built on it.

Importing this module does not import ``hub``: the realtime core's kit (``tests/rooms/ykit.py``)
starts its servers with ``start_uvicorn`` too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import uvicorn

from tests.helpers import eventually, free_port

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from hub.settings import Settings


class LiveServer:
    """The hub app on a loopback port (``app.state.ctx`` is its context)."""

    def __init__(self, app: Starlette, port: int) -> None:
        self.app = app
        self.port = port
        self.http_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


async def start_uvicorn(
    config: uvicorn.Config, timeout: float = 10.0
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Starts ``config`` in a task and returns once it listens; a failed start raises here."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    started = lambda: server.started or task.done()  # noqa: E731
    await eventually(started, timeout=timeout, message="uvicorn start")
    if task.done():
        task.result()
    return server, task


@contextlib.asynccontextmanager
async def serve_hub(settings: Settings, **overrides: Any) -> AsyncIterator[LiveServer]:
    """The app on a free port with ``overrides`` applied to ``settings``; stopped on exit."""
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
    server, task = await start_uvicorn(config)
    try:
        yield LiveServer(application, port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


@contextlib.asynccontextmanager
async def serve_test_hub(settings: Settings, **overrides: Any) -> AsyncIterator[LiveServer]:
    """``serve_hub`` for one test: a Postgres database is emptied after the server stops."""
    from tests.databases import truncate_postgres

    try:
        async with serve_hub(settings, **overrides) as server:
            yield server
    finally:
        await truncate_postgres(settings)
