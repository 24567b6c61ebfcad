"""Fault tests of scaled mode: two real ``hub serve`` processes on one Postgres database and a
private redis-server (issue #8, point 10). What each proves and its time bound is in its docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from hub.collab.store import SqlStore
from hub.db import Database
from tests.conftest import _base_settings, _truncate_postgres
from tests.fault.redis_server import RedisServer
from tests.fault.test_rooms_redis_outage import HubProcess
from tests.helpers import eventually, free_port
from tests.rooms.ykit import EventClient, YClient

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FLUSH_MS = 1000  # long enough that a process killed right after an edit never flushed it


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def database(pg_database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    settings = _base_settings(tmp_path, database_url=pg_database_url)
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()
        await _truncate_postgres(settings)


@pytest.fixture
async def hubs(
    redis: RedisServer, database: Database, tmp_path: Path
) -> AsyncIterator[list[HubProcess]]:
    env = {
        **os.environ,
        "DATABASE_URL": database.settings.effective_database_url,
        "REDIS_URL": redis.url,
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_MEDIA_DIR": str(tmp_path / "media"),
        "HUB_AUTO_MIGRATE": "false",
        "HUB_EMBEDDED_WORKER": "false",
        "HUB_ENVIRONMENT": "test",
        "HUB_LOG_JSON": "false",
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_ROOM_STORE_FLUSH_MS": str(FLUSH_MS),
        "HUB_GRACEFUL_SHUTDOWN_SECONDS": "3",
    }
    processes = [HubProcess(env, free_port(), tmp_path / f"hub-{i}.log") for i in range(2)]
    try:
        await asyncio.gather(*(p.wait_ready() for p in processes))
        yield processes
    finally:
        for process in processes:
            process.stop()


async def _setup(db: Database) -> tuple[str, str, str]:
    """Two editors and a room, written straight into the shared database."""
    from sqlalchemy import select
    from sqlmodel import col

    from hub.accounts import tokens, users
    from hub.collab.models import RoomMember, RoomRecord
    from hub.collab.rooms import create_room
    from hub.ratelimit import RateLimiter
    from rooms.types import Role

    async with db.unit_of_work() as session:
        owner = await users.create_user(
            session, email="o@example.test", username="olivia", password=None
        )
        editor = await users.create_user(
            session, email="e@example.test", username="edward", password=None
        )
        _, owner_token = await tokens.create_personal_token(session, owner, name="t")
        _, editor_token = await tokens.create_personal_token(session, editor, name="t")
        room = await create_room(
            session, users.actor_for(owner, auth="api_token"), limiter=RateLimiter(), title="faults"
        )
        assert room is not None
    async with db.unit_of_work() as session:
        row = await session.scalar(select(RoomRecord).where(col(RoomRecord.slug) == room.slug))
        assert row is not None
        assert row.room_id is not None
        assert editor.user_id is not None
        session.add(RoomMember(room_id=row.room_id, user_id=editor.user_id, role=Role.EDITOR))
    return room.slug, owner_token, editor_token


async def _stored_prompt(db: Database, slug: str) -> str:
    """The prompt as the database holds it (what a fresh process would load)."""
    doc: Doc[Any] = Doc()
    doc["prompt"] = prompt = Text()
    for update in (await SqlStore(db).load(slug)).all_updates:
        doc.apply_update(update)
    return str(prompt)


async def test_edits_survive_a_sigkilled_process(
    hubs: list[HubProcess], database: Database
) -> None:
    """Proves: an edit that process 1 applied and published but never flushed (SIGKILL right
    after it crossed to process 2) reaches the store through process 2, with the room still
    loaded there, within the flush interval plus ``peer_store_timeout`` (1 s + 8 s), and later
    edits on process 2 are stored too. Bound: about 15 s (two process starts, 12 s at most for
    the store)."""
    one, two = hubs
    slug, owner_token, editor_token = await _setup(database)
    a = YClient(f"{one.ws_url}/yjs/{slug}?token={owner_token}", name="olivia")
    b = YClient(f"{two.ws_url}/yjs/{slug}?token={editor_token}", name="edward")
    try:
        for client in (a, b):
            await client.connect()
            await client.wait_synced()
        a.insert(0, "hello ")

        async def stored(expected: str) -> bool:
            return await _stored_prompt(database, slug) == expected

        await eventually(lambda: stored("hello "), timeout=5, message="hello flushed")
        a.insert(len(a.text), "world")
        await eventually(lambda: b.text == "hello world", timeout=2, message="world crosses")
        one.process.send_signal(signal.SIGKILL)  # well within its 1 s flush window
        assert await asyncio.to_thread(one.process.wait, 10) == -signal.SIGKILL
        assert await _stored_prompt(database, slug) == "hello "  # process 1 never stored it
        b.insert(len(b.text), " !!!")
        await eventually(lambda: stored("hello world !!!"), timeout=12, message="every edit stored")
    finally:
        for client in (a, b):
            with contextlib.suppress(Exception):
                await client.close()


def _stored_events(client: EventClient) -> list[tuple[int, str]]:
    return [(m["seq"], m["type"]) for m in client.messages if m.get("type") == "chat.message"]


async def test_events_during_a_redis_outage_reach_every_socket_in_order(
    hubs: list[HubProcess], redis: RedisServer, database: Database
) -> None:
    """Proves: chats sent on both processes while Redis is down (process 2's first, then
    process 1's, whose seq is higher) reach every event socket on both processes, each once, in
    seq order and without a ``resync``, once Redis is back. Bound: about 20 s (two process
    starts, a 4 s outage, 15 s at most to heal)."""
    one, two = hubs
    slug, owner_token, editor_token = await _setup(database)
    sockets = [
        await EventClient.open(f"{process.ws_url}/rooms/{slug}/events?token={token}")
        for process in (one, two)
        for token in (owner_token, editor_token)
    ]
    on_one, on_two = sockets[0], sockets[2]
    try:
        for client in sockets:
            await client.wait_for("welcome")
        await on_one.send({"type": "chat.send", "data": {"text": "before"}})
        for client in sockets:
            await client.wait_for("chat.message")

        await redis.astop()
        for i in range(5):
            await on_two.send({"type": "chat.send", "data": {"text": f"two {i}"}})
        await on_two.wait_for("chat.message", 6)
        for i in range(5):
            await on_one.send({"type": "chat.send", "data": {"text": f"one {i}"}})
        await on_one.wait_for("chat.message", 6)
        await asyncio.sleep(4)  # the outage itself
        await redis.astart()

        stored = await SqlStore(database).events_since(slug, 0, limit=100)
        assert stored is not None
        expected = [(e.seq, e.type) for e in stored if e.type == "chat.message"]
        assert len(expected) == 11

        def complete() -> bool:
            return all(len(_stored_events(client)) >= 11 for client in sockets)

        await eventually(complete, timeout=15, interval=0.1, message="every chat everywhere")
        for client in sockets:
            assert _stored_events(client) == expected
            assert client.of_type("resync") == []
    finally:
        for client in sockets:
            await client.close()
