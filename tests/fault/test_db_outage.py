"""Fault test: the hub's link to Postgres goes through a TCP proxy that is cut and restored.

While the database cannot be reached the API answers 503 ``unavailable`` (the error shape) within
the pool timeout, /readyz says 503 within its own timeout, and room sockets close with 1013 (stock
clients retry it); once the link is back the same process serves again, without a restart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from rooms import close_codes
from tests.fault.tcp_proxy import TcpProxy
from tests.helpers import eventually
from tests.hub.collab.conftest import TestUser, create_room, create_test_user
from tests.hub.collab.helpers import hub_ctx, refused, yjs_url
from tests.live import LiveServer, serve_test_hub

pytestmark = pytest.mark.postgres

POOL_TIMEOUT = 2.0
READY_TIMEOUT = 1.0
COMMAND_TIMEOUT = 1.5


@pytest.fixture
def settings(pg_database_url: str, tmp_path: Any) -> Settings:
    from tests.conftest import _base_settings

    return _base_settings(tmp_path, database_url=pg_database_url)


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    link = TcpProxy("127.0.0.1", 5432)
    await link.start()
    try:
        yield link
    finally:
        await link.close()


@pytest.fixture
async def live(settings: Settings, proxy: TcpProxy) -> AsyncIterator[LiveServer]:
    name = settings.database_url.rsplit("/", 1)[1]
    through_proxy = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{name}"
    async with serve_test_hub(
        settings,
        database_url=through_proxy,
        db_pool_timeout=POOL_TIMEOUT,
        db_ready_timeout=READY_TIMEOUT,
        db_command_timeout=COMMAND_TIMEOUT,
    ) as server:
        yield server


async def _timed_get(client: httpx.AsyncClient, path: str, user: TestUser) -> tuple[Any, float]:
    started = time.monotonic()
    response = await client.get(path, headers=user.headers)
    return response, time.monotonic() - started


async def test_a_database_outage_is_503_and_the_hub_recovers(
    live: LiveServer, proxy: TcpProxy
) -> None:
    ctx = hub_ctx(live)
    user = await create_test_user(ctx, "olivia", "Olivia")
    async with httpx.AsyncClient(base_url=live.http_url, timeout=30) as client:
        slug = (await create_room(client, user))["slug"]
        assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 200
        assert (await client.get("/readyz")).status_code == 200

        # Cut: live connections are reset, new ones hang (a route that went away).
        proxy.blackhole()
        await proxy.cut()
        for path in ("/api/v1/me", f"/api/v1/rooms/{slug}", f"/api/v1/rooms/{slug}/document"):
            response, took = await _timed_get(client, path, user)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"]["code"] == "unavailable"
            assert response.headers["retry-after"]
            assert took < POOL_TIMEOUT + 3, (path, took)
        started = time.monotonic()
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["db"] is False
        assert time.monotonic() - started < READY_TIMEOUT + 2
        code = await refused(yjs_url(live, slug, user))
        assert code == close_codes.TRY_AGAIN_LATER

        proxy.restore()

        async def serves() -> bool:
            return (await client.get("/api/v1/me", headers=user.headers)).status_code == 200

        await eventually(serves, timeout=15, message="the hub serves again after the outage")
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get(f"/api/v1/rooms/{slug}", headers=user.headers)).status_code == 200


async def test_readyz_answers_503_quickly_on_a_hung_link(live: LiveServer, proxy: TcpProxy) -> None:
    async with httpx.AsyncClient(base_url=live.http_url, timeout=30) as client:
        assert (await client.get("/readyz")).status_code == 200
        proxy.blackhole()  # pooled connections stay open; nothing comes back
        started = time.monotonic()
        ready = await client.get("/readyz")
        took = time.monotonic() - started
        assert ready.status_code == 503, ready.text
        assert ready.json() == {"status": "unavailable", "checks": {"db": False, "bus": True}}
        assert took < READY_TIMEOUT + 2, took
        proxy.restore()
        await eventually(
            lambda: _ready(client), timeout=15, message="/readyz is 200 after the link is back"
        )


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def test_a_hung_link_under_a_pooled_connection_is_503_within_the_command_timeout(
    live: LiveServer, proxy: TcpProxy
) -> None:
    ctx = hub_ctx(live)
    user = await create_test_user(ctx, "olivia", "Olivia")
    async with httpx.AsyncClient(base_url=live.http_url, timeout=30) as client:
        assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 200
        pooled = proxy.accepted
        # Silent: the pooled connections stay open and nothing comes back (a dead route). The
        # requests below reuse one of them (its pre-ping, then its queries), never a new one.
        proxy.blackhole()
        for _ in range(2):
            response, took = await _timed_get(client, "/api/v1/me", user)
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "unavailable"
            # The pre-ping times out, SQLAlchemy gives the dead connection 2 s to close, and a
            # fresh one may be tried (the pool timeout bounds connecting).
            assert took < COMMAND_TIMEOUT + 2 + POOL_TIMEOUT + 1, took
        proxy.restore()

        async def serves() -> bool:
            return (await client.get("/api/v1/me", headers=user.headers)).status_code == 200

        await eventually(serves, timeout=15, message="the hub serves again after the outage")
        assert proxy.accepted > pooled  # the connections that hung were replaced
