"""Fault test: two real ``hub serve`` processes share a private Redis and one SQLite file; Redis
goes away for 3 s mid-session. Edits made during the outage must reach everyone afterwards and
none may be lost (the bus reconnects, then rooms resync by state vector with the store and each
other)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.db import Database
from hub.migrate import upgrade
from hub.settings import Settings
from tests.fault.helpers import room_with_two_editors
from tests.fault.redis_server import RedisServer
from tests.helpers import eventually
from tests.processes import SERVE_ENV, HubProcess, hub_env
from tests.rooms.ykit import YClient

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
async def hubs(
    redis_server: RedisServer, tmp_path: Path
) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    database_url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    await asyncio.to_thread(upgrade, database_url.replace("sqlite:", "sqlite+aiosqlite:"))
    env = hub_env(
        database_url,
        tmp_path,
        **SERVE_ENV,
        REDIS_URL=redis_server.url,
        HUB_ROOM_STORE_FLUSH_MS="50",
    )
    processes = [HubProcess.serve(env, tmp_path / f"hub-{i}.log") for i in range(2)]
    try:
        await asyncio.gather(*(p.wait_ready() for p in processes))
        yield processes[0], processes[1]
    finally:
        for process in processes:
            process.stop()


async def _setup(tmp_path: Path) -> tuple[str, str, str]:
    """Two editors and a room, written straight into the shared database."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}", auto_migrate=False
    )
    db = Database(settings)
    try:
        return await room_with_two_editors(db, title="outage")
    finally:
        await db.dispose()


async def test_edits_during_a_redis_outage_reach_everyone(
    hubs: tuple[HubProcess, HubProcess], redis_server: RedisServer, tmp_path: Path
) -> None:
    one, two = hubs
    slug, owner_token, editor_token = await _setup(tmp_path)
    a = YClient(f"{one.ws_url}/yjs/{slug}?token={owner_token}", name="olivia")
    b = YClient(f"{two.ws_url}/yjs/{slug}?token={editor_token}", name="edward")
    clients = [a, b]
    try:
        for client in (a, b):
            await client.connect()
            await client.wait_synced()
        a.insert(0, "before ")
        await eventually(lambda: b.text == "before ", message="edit crosses processes")

        await redis_server.astop()
        a.insert(len(a.text), "一只猫 ")  # during the outage, on process one
        b.insert(0, "雨中 ")  # during the outage, on process two
        await asyncio.sleep(3)  # the outage itself
        await redis_server.astart()

        def healed() -> bool:
            return a.text == b.text and "一只猫" in a.text and "雨中" in a.text

        await eventually(healed, timeout=20, interval=0.1, message="edits healed after outage")
        assert a.text.count("before") == 1
        after = a.text
        b.insert(len(b.text), "after")
        await eventually(lambda: a.text == after + "after", timeout=10, message="bus works again")

        newcomer = YClient(f"{one.ws_url}/yjs/{slug}?token={editor_token}", name="late")
        clients.append(newcomer)
        await newcomer.connect()
        await newcomer.wait_synced()
        await eventually(lambda: newcomer.text == a.text, timeout=5)
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
