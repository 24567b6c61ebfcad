"""Fault test: a web process is SIGKILLed while 100 clients share a room behind nginx.

Three ``hub serve`` processes behind nginx (round robin, no stickiness), a private Redis, the
session's Postgres database. 100 y-websocket clients (20 people, five sockets each) join one room;
about a third land on each process. Each client types a marker and waits until every client shows
all of them (acknowledged by the whole room); then each types a second marker and, at once, the
busiest process is killed. The killed process's clients reconnect through nginx, which sends
them to the survivors, and resync by state vector; three of them never come back, so their
acknowledged edits live on only in the other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.db import Database
from hub.settings import Settings
from scale.topology import Running
from tests.fault.helpers import room_with_editors
from tests.fault.redis_server import RedisServer
from tests.helpers import eventually
from tests.rooms.ykit import YClient
from tests.scale.clients import Reconnecting, everyone_has, type_everywhere
from tests.scale.topology import Landings, kill, scaled_hub, stored_prompt

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

CLIENTS = 100
SOCKETS_EACH = 5


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
    env = {"HUB_ROOM_MAX_MEMBERS": "300"}  # the killed process's sockets linger in presence
    async with scaled_hub(
        tmp_path, pg_database_url, redis_server.url, web=3, workers=0, env=env
    ) as running:
        yield running


async def _join(
    hub: Running, slug: str, tokens: list[str], landings: Landings
) -> list[Reconnecting]:
    url = hub.url.replace("http://", "ws://") + f"/yjs/{slug}?token="
    clients = [
        Reconnecting(
            YClient(url + tokens[n // SOCKETS_EACH], name=f"c{n:03d}"), landings, f"c{n:03d}"
        )
        for n in range(CLIENTS)
    ]
    # A few at a time, as people arrive; all at once would only measure admission control.
    for start in range(0, CLIENTS, 10):
        await asyncio.gather(*(c.start() for c in clients[start : start + 10]))
    return clients


async def test_killed_web_process_clients_reconnect_and_nothing_is_lost(
    hub: Running, db: Database
) -> None:
    """Proves: after SIGKILL of the web process holding about a third of 100 sockets, every one
    of its clients but the three who left is back in the room on a surviving process, the
    documents converge, and every edit survives: those the whole room had seen before the kill
    (acknowledged), the departed's included, and those typed at the moment of the kill by
    everyone who came back (re-sent on resync). The stored document holds them all too.
    Bound: about 40 s (three process starts, 100 joins, the reconnects); 15 s when idle."""
    people = [f"p{n:02d}" for n in range(CLIENTS // SOCKETS_EACH)]
    slug, owner_token, tokens = await room_with_editors(db, title="crowd", editors=people)
    landings = Landings(hub)
    clients = await _join(hub, slug, tokens, landings)
    try:
        acked = type_everywhere(clients, "a")
        await eventually(lambda: everyone_has(clients, acked), 30, 0.1, "all acknowledged")
        spread = Counter(c.landed[0] for c in clients)
        assert set(spread) == {"web-1", "web-2", "web-3"}, spread
        victim_name = spread.most_common(1)[0][0]
        on_victim = [c for c in clients if c.landed[0] == victim_name]

        departed = on_victim[:3]
        for client in departed:
            client.give_up()
        staying = [c for c in clients if c not in departed]
        in_flight = type_everywhere(clients, "b")
        await kill(hub.named(victim_name))
        # What must survive: every acknowledged edit, the departed's included, and the edits
        # in flight of everyone who came back (the departed's may have died with the process).
        expected = acked + [m for c, m in zip(clients, in_flight, strict=True) if c in staying]

        def healed() -> bool:
            return everyone_has(staying, expected) and len({c.text for c in staying}) == 1

        await eventually(healed, timeout=30, interval=0.2, message="the room converged")
        for client in on_victim[3:]:
            assert len(client.landed) >= 2, f"{client.who} never reconnected"
            assert client.landed[-1] != victim_name
        assert all(len(c.landed) == 1 for c in clients if c not in on_victim)
        final = staying[0].text

        async def stored() -> bool:
            return await stored_prompt(hub, slug, owner_token) == final

        await eventually(stored, timeout=15, interval=0.3, message="the document is stored")
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.stop()
