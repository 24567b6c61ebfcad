"""Fault test: two real ``hub serve`` processes share a private Redis and one SQLite file; Redis
goes away for 3 s mid-session. Edits made during the outage must reach everyone afterwards and
none may be lost (the bus reconnects, then rooms resync by state vector with the store and each
other)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from hub.db import Database
from hub.migrate import upgrade
from hub.ratelimit import RateLimiter
from hub.settings import Settings
from tests.fault.redis_server import RedisServer
from tests.helpers import eventually, free_port
from tests.rooms.ykit import YClient

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class HubProcess:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def wait_ready(self) -> None:
        async def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"hub exited early:\n{self.log.read_text()}")
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"http://127.0.0.1:{self.port}/readyz")
                    return response.status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout=30, interval=0.1, message="hub process ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log_file.close()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def hubs(redis: RedisServer, tmp_path: Path) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    database_url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    await asyncio.to_thread(upgrade, database_url.replace("sqlite:", "sqlite+aiosqlite:"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_MEDIA_DIR": str(tmp_path / "media"),
        "HUB_AUTO_MIGRATE": "false",
        "HUB_EMBEDDED_WORKER": "false",
        "HUB_ENVIRONMENT": "test",
        "HUB_LOG_JSON": "false",
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_ROOM_STORE_FLUSH_MS": "50",
        "HUB_GRACEFUL_SHUTDOWN_SECONDS": "3",
    }
    processes = [HubProcess(env, free_port(), tmp_path / f"hub-{i}.log") for i in range(2)]
    try:
        await asyncio.gather(*(p.wait_ready() for p in processes))
        yield processes[0], processes[1]
    finally:
        for process in processes:
            process.stop()


async def _setup(tmp_path: Path) -> tuple[str, str, str]:
    """Two editors and a room, written straight into the shared database."""
    from hub.accounts.tokens import create_personal_token
    from hub.accounts.users import actor_for, create_user
    from hub.collab.rooms import create_room

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}", auto_migrate=False
    )
    db = Database(settings)
    try:
        async with db.unit_of_work() as session:
            owner = await create_user(
                session, email="o@example.test", username="olivia", password=None
            )
            editor = await create_user(
                session, email="e@example.test", username="edward", password=None
            )
            _, owner_token = await create_personal_token(session, owner, name="t")
            _, editor_token = await create_personal_token(session, editor, name="t")
            room = await create_room(
                session,
                actor_for(owner, auth="api_token"),
                limiter=RateLimiter(),
                title="outage",
            )
            assert room is not None
        async with db.unit_of_work() as session:
            from sqlalchemy import select
            from sqlmodel import col

            from hub.collab.models import RoomMember, RoomRecord
            from rooms.types import Role

            row = await session.scalar(select(RoomRecord).where(col(RoomRecord.slug) == room.slug))
            assert row is not None
            assert row.room_id is not None
            assert editor.user_id is not None
            session.add(RoomMember(room_id=row.room_id, user_id=editor.user_id, role=Role.EDITOR))
    finally:
        await db.dispose()
    return room.slug, owner_token, editor_token


async def test_edits_during_a_redis_outage_reach_everyone(
    hubs: tuple[HubProcess, HubProcess], redis: RedisServer, tmp_path: Path
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

        await redis.astop()
        a.insert(len(a.text), "一只猫 ")  # during the outage, on process one
        b.insert(0, "雨中 ")  # during the outage, on process two
        await asyncio.sleep(3)  # the outage itself
        await redis.astart()

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
