"""Fault test: a subscriber that never reads sits in a busy room of the scaled topology.

``tests/rooms/test_backpressure.py`` proves the rooms core's bound on one process. Here the room is
spread over two ``hub serve`` processes behind nginx: the writer on one, the stalled socket and a
healthy reader on the other (the writer's updates reach them over Redis), a second healthy reader
with the writer. Between the stalled client and the hub sit nginx and two TCP connections, whose
buffers fill first; then the hub's outbound queue of the socket (256 frames) overflows and the
hub drops it with 4508 (transient: stock clients reconnect and resync).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from hub.db import Database
from hub.settings import Settings
from rooms import close_codes
from scale.topology import Running
from tests.fault.helpers import room_with_editors
from tests.fault.redis_server import RedisServer
from tests.helpers import eventually
from tests.rooms.ykit import YClient, open_stalled, yclient
from tests.scale.topology import Landings, scaled_hub

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

UPDATE_BYTES = 32_000
# The bound, in updates: the socket buffers on both sides of nginx (a few MB on Linux) plus the
# hub's 256-frame queue, at 32 kB an update, with room to spare.
MAX_UPDATES = 1500
DROP_SECONDS = 30


@pytest.fixture
async def db(pg_database_url: str) -> AsyncIterator[Database]:
    database = Database(Settings(database_url=pg_database_url, auto_migrate=False))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def hub(
    pg_database_url: str, redis_server: RedisServer, tmp_path: Path
) -> AsyncIterator[Running]:
    # The writer's updates are limited per socket; lift that so the room is busy, not paced.
    env = {"HUB_ROOM_MESSAGES_PER_SECOND": "2000"}
    async with scaled_hub(
        tmp_path, pg_database_url, redis_server.url, web=2, workers=0, env=env
    ) as running:
        yield running


def _dropped(hub: Running, process: str) -> bool:
    return "closing slow consumer" in Path(hub.named(process).log).read_text()


async def _drain(slow: ClientConnection) -> int:
    """Reads the backlog until the close frame; returns the close code."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await slow.recv()
    assert slow.close_code is not None
    return slow.close_code


async def _flood(writer: YClient, pace: YClient, hub: Running, process: str) -> int:
    """Replaces the prompt with a 32 kB text again and again, waiting every ten updates until
    ``pace`` (a healthy reader) caught up; returns the updates sent until the drop."""
    for n in range(1, MAX_UPDATES + 1):
        writer.prompt.clear()
        writer.prompt.insert(0, f"{n:06d}" + "x" * UPDATE_BYTES)
        if n % 10 == 0:
            await eventually(lambda: pace.text == writer.text, 15, 0.01, "reader keeps up")
            if _dropped(hub, process):
                return n
    raise AssertionError(f"no drop after {MAX_UPDATES} updates of {UPDATE_BYTES} bytes")


async def test_a_subscriber_that_never_reads_is_dropped_and_the_room_carries_on(
    hub: Running, db: Database
) -> None:
    """Proves: a socket behind nginx that stops reading in a room busy with 32 kB updates is
    dropped by its hub process within MAX_UPDATES updates and DROP_SECONDS, and once it reads
    again its close frame says 4508 (slow consumer); the other sockets, one on each process,
    are never closed and end with the writer's text. Bound: about 35 s (two process starts,
    the flood: about 10 MB through each socket)."""
    slug, owner_token, tokens = await room_with_editors(
        db, title="busy", editors=["edgar", "evelyn"]
    )
    ws_url = hub.url.replace("http://", "ws://") + f"/yjs/{slug}?token="
    landings = Landings(hub)
    # Round robin over two processes: writer and reader_a on one, slow and reader_b on the other.
    writer = await yclient(ws_url + owner_token, "writer")
    nginx_port = hub.named("nginx").port
    assert nginx_port is not None
    slow = await open_stalled(ws_url + tokens[0], nginx_port)
    reader_a = await yclient(ws_url + tokens[1], "reader-a")
    reader_b = await yclient(ws_url + tokens[1], "reader-b")
    healthy = [writer, reader_a, reader_b]
    try:
        for who, ws in (("writer", writer.ws), ("slow", slow), ("a", reader_a.ws)):
            landings.socket(who, ws)
        landings.socket("b", reader_b.ws)
        process = landings.seen["slow"][0]
        assert landings.seen["b"] == [process] != landings.seen["writer"], landings.seen
        started = time.monotonic()
        sent = await _flood(writer, reader_b, hub, process)
        took = time.monotonic() - started
        assert await _drain(slow) == close_codes.SLOW_CONSUMER
        assert took < DROP_SECONDS, f"dropped after {took:.1f} s"
        in_sync = lambda: all(c.text == writer.text for c in healthy)  # noqa: E731
        await eventually(in_sync, 10, message="every healthy socket has the last update")
        for client in healthy:
            assert not client.closed.is_set(), f"{client.name} was closed ({client.close_code})"
        assert sent <= MAX_UPDATES
    finally:
        with contextlib.suppress(Exception):
            await slow.close()
        for client in healthy:
            await client.close()
