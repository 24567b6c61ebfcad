"""A web process restarted the way docs/deploy.md says (drain in nginx, SIGTERM, start, undrain;
``scale.rolling.restart_web``) while people use the site: no request fails and no edit is lost.

Compare ``test_web_kill.py``, where the process dies without warning: there sockets are cut and
clients recover; here the restart is planned, so not even a request may see an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hub.db import Database
from hub.settings import Settings
from scale import nginx
from scale.rolling import restart_web
from scale.topology import Running
from tests.fault.helpers import room_with_editors
from tests.fault.redis_server import RedisServer
from tests.helpers import eventually
from tests.rooms.ykit import YClient
from tests.scale.clients import Reconnecting, everyone_has, type_everywhere
from tests.scale.topology import Landings, scaled_hub, stored_prompt

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

CLIENTS = 30
SOCKETS_EACH = 5
GOING_AWAY = 1001  # what `hub serve` drains its room sockets with on SIGTERM (ADR 0026)


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
    async with scaled_hub(tmp_path, pg_database_url, redis_server.url, web=3, workers=0) as up:
        yield up


@dataclass
class Traffic:
    """People reading the room and editing their profile (a PATCH, which nginx never retries
    on another process) in a loop; every answer's status and process are counted."""

    hub: Running
    tokens: list[str]
    slug: str
    statuses: Counter[int] = field(default_factory=Counter)
    served_by: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(token)) for token in self.tokens]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self, token: str) -> None:
        auth = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=self.hub.url, timeout=30) as http:
            for n in range(10**6):
                for answer in (
                    await http.get(f"/api/v1/rooms/{self.slug}", headers=auth),
                    await http.patch("/api/v1/me", json={"bio": f"edit {n}"}, headers=auth),
                ):
                    self.statuses[answer.status_code] += 1
                    upstream = answer.headers.get(nginx.UPSTREAM_HEADER)
                    if upstream:
                        self.served_by.append(self.hub.web_at(upstream))


async def test_a_drained_restart_fails_no_request_and_loses_no_edit(
    hub: Running, db: Database
) -> None:
    """Proves: restarting web-2 by drain, SIGTERM, start and undrain while four people send
    reads and PATCHes through nginx and 30 sockets edit a room, every request answers 2xx;
    web-2's sockets are closed with 1001 and come back on the others; every edit, those typed
    during the restart included, reaches every client and the store; the new web-2 serves
    requests afterwards. Bound: about 35 s (three process starts, one restart)."""
    people = [f"p{n:02d}" for n in range(CLIENTS // SOCKETS_EACH)]
    slug, _, tokens = await room_with_editors(db, title="restart", editors=people)
    landings = Landings(hub)
    url = hub.url.replace("http://", "ws://") + f"/yjs/{slug}?token="
    clients = [
        Reconnecting(YClient(url + tokens[n // SOCKETS_EACH]), landings, f"c{n:02d}")
        for n in range(CLIENTS)
    ]
    traffic = Traffic(hub, tokens[:4], slug)
    try:
        for client in clients:
            await client.start()
        on_web_2 = [c for c in clients if c.landed[0] == "web-2"]
        assert on_web_2, Counter(c.landed[0] for c in clients)
        acked = type_everywhere(clients, "a")
        await eventually(lambda: everyone_has(clients, acked), 20, 0.1, "all acknowledged")
        traffic.start()
        during = type_everywhere(clients, "b")
        await asyncio.to_thread(restart_web, hub.run_dir, "web-2", 10.0)
        mark = len(traffic.served_by)
        await eventually(lambda: "web-2" in traffic.served_by[mark:], 10, 0.1, "web-2 is back")
        await traffic.stop()
        assert set(traffic.statuses) <= {200}, traffic.statuses
        assert traffic.statuses.total() >= 50, "too little traffic to prove anything"

        def healed() -> bool:
            return everyone_has(clients, acked + during) and len({c.text for c in clients}) == 1

        await eventually(healed, timeout=20, interval=0.2, message="every edit everywhere")
        for client in on_web_2:
            assert client.closes[:1] == [GOING_AWAY], (client.who, client.closes)
            assert client.landed[1] != "web-2", client.landed
        final = clients[0].text

        async def stored() -> bool:
            return await stored_prompt(hub, slug, tokens[0]) == final

        await eventually(stored, timeout=15, interval=0.3, message="the document is stored")
    finally:
        await traffic.stop()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.stop()
