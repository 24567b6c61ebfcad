"""Two hub processes on one database and one bus: a notice made on one process reaches the
user's socket on the other, and ending a credential on one closes its socket on the other.

Run twice: on two in-memory buses joined by a ``MemoryHub`` (what Redis does, in one process) and
on the shared Redis with a key prefix of its own (skipped loudly without it; fails under CI)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from hub.settings import Settings
from rooms.bus import Bus, MemoryBus, MemoryHub
from tests.databases import truncate_postgres
from tests.fault.redis_server import require_shared_redis
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.live_kit import account, follow, http, sign_in
from tests.live import LiveServer, serve_hub

API = "/api/v1"
WITHIN = 1.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def pair(
    request: pytest.FixtureRequest, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    overrides: dict[str, str] = {}
    if request.param == "redis":
        overrides = {
            "redis_url": require_shared_redis(),
            "redis_key_prefix": f"test-{uuid.uuid4().hex[:8]}:",
        }
    else:
        shared = MemoryHub()

        def memory_bus(_settings: Settings) -> Bus:
            return MemoryBus(shared)

        monkeypatch.setattr("hub.compose.make_bus", memory_bus)
    try:
        async with serve_hub(settings, **overrides) as one, serve_hub(settings, **overrides) as two:
            yield one, two
    finally:
        await truncate_postgres(settings)


@BOTH_DATABASES
async def test_notices_cross_processes(pair: tuple[LiveServer, LiveServer]) -> None:
    one, two = pair
    await account(one, "ada")
    await account(one, "bob")
    ada = await sign_in(one, "ada")
    bob = await sign_in(one, "bob")
    on_two = await ada.open(two)
    on_one = await ada.open(one)
    await on_two.wait_for("hello")
    await on_one.wait_for("hello")
    await follow(bob, "ada", via=one)
    for socket in (on_one, on_two):
        (message,) = await socket.wait_for("notification")
        assert message["notification"]["kind"] == "follow"
        assert message["unread_count"] == 1
    # Read on process two: the page on process one hears it.
    async with http(two) as api:
        headers = {**ada.headers, "origin": two.http_url}
        answer = await api.post(f"{API}/notifications/read-all", headers=headers)
        assert answer.json() == {"marked": 1, "unread_count": 0}
    for socket in (on_one, on_two):
        (read,) = await socket.wait_for("read")
        assert (read["notification_ids"], read["unread_count"]) == (None, 0)
    await on_one.close()
    await on_two.close()


async def test_signing_out_on_one_process_closes_the_socket_on_the_other(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    one, two = pair
    await account(one, "ada")
    ada = await sign_in(one, "ada")
    other_session = await sign_in(two, "ada")
    socket = await ada.open(two)
    stays = await other_session.open(two)
    await socket.wait_for("hello")
    await stays.wait_for("hello")
    async with http(one) as api:
        started = time.monotonic()
        answer = await api.post(f"{API}/auth/logout", headers=ada.headers)
        assert answer.status_code == 204
    assert await socket.wait_closed(timeout=WITHIN) == 4401
    assert time.monotonic() - started < WITHIN
    assert not stays.closed.is_set()
    await stays.close()
    await socket.close()
