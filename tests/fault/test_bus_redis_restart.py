"""RedisBus (and RedisPresence) under Redis faults, on a private redis-server per test:
graceful stop and crash with restart, a silent network cut (blackholing proxy), a slow link,
a killed connection, Redis absent at start, and refused credentials.

What must hold every time: nothing hangs, publishing during an outage fails fast with
BusUnavailable, the bus reconnects and resubscribes by itself, ``on_reconnect`` callbacks fire
(rooms resync there), and messages published after the recovery arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from rooms.bus import BusMessage, BusUnavailable
from rooms.bus_redis import RedisBus
from rooms.presence import PresenceUnavailable, RedisPresence
from tests.fault.redis_server import RedisServer
from tests.fault.tcp_proxy import TcpProxy
from tests.helpers import eventually, free_port

pytestmark = pytest.mark.redis

# Short timers so faults are noticed in well under a second; production defaults are seconds.
FAST: dict[str, Any] = {
    "connect_timeout": 1.0,
    "op_timeout": 1.0,
    "ping_interval": 0.2,
    "ping_timeout": 0.4,
    "backoff_initial": 0.05,
    "backoff_max": 0.3,
}


class Recorder:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def __call__(self, message: BusMessage) -> None:
        self.payloads.append(message.payload)


class Resyncs:
    """An ``on_reconnect`` callback that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


@pytest.fixture
async def buses() -> AsyncIterator[list[RedisBus]]:
    """Buses appended here are stopped at the end, and stopping must not hang."""
    started: list[RedisBus] = []
    yield started
    async with asyncio.timeout(5):
        for bus in started:
            await bus.stop()


async def start_bus(buses: list[RedisBus], url: str, **options: Any) -> RedisBus:
    bus = RedisBus(url, **{**FAST, **options})
    buses.append(bus)
    await bus.start()
    return bus


class Streamer:
    """Publishes a numbered message every few ms, as a busy room would, and records outcomes."""

    def __init__(self, bus: RedisBus, channel: str) -> None:
        self.bus = bus
        self.channel = channel
        self.sent: list[bytes] = []
        self.refused = 0
        self.slowest = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        n = 0
        while True:
            payload = b"%d" % n
            n += 1
            started = time.monotonic()
            try:
                await self.bus.publish(self.channel, payload)
            except BusUnavailable:
                self.refused += 1
            else:
                self.sent.append(payload)
            self.slowest = max(self.slowest, time.monotonic() - started)
            await asyncio.sleep(0.005)  # the stream's pace, not a wait for a condition


@pytest.mark.parametrize(("fault", "outage"), [("stop", 3.0), ("crash", 1.0)])
async def test_bus_recovers_by_itself_after_redis_restart(
    server: RedisServer, buses: list[RedisBus], fault: str, outage: float
) -> None:
    publisher = await start_bus(buses, server.url)
    subscriber = await start_bus(buses, server.url)
    got, events = Recorder(), Recorder()
    resyncs = {bus.instance_id: Resyncs() for bus in (publisher, subscriber)}
    for bus in (publisher, subscriber):
        bus.on_reconnect(resyncs[bus.instance_id])
    await subscriber.subscribe("room:r", got)
    await subscriber.subscribe("room:r:events", events)
    stream = Streamer(publisher, "room:r")
    stream.start()
    await eventually(lambda: len(got.payloads) >= 20, message="stream flowing")

    if fault == "stop":
        await server.astop()
    else:
        server.kill()
    outage_started = time.monotonic()
    await eventually(
        lambda: not publisher.connected and not subscriber.connected, message="loss noticed"
    )
    started = time.monotonic()
    with pytest.raises(BusUnavailable, match="reconnecting"):
        await publisher.publish("room:r:events", b"during outage")
    assert time.monotonic() - started < 0.1  # fails fast, nothing buffered
    assert await publisher.ping() is False
    with pytest.raises(BusUnavailable, match="did not confirm"):
        await subscriber.subscribe("room:late", got)  # bounded by op_timeout, not forever
    await eventually(lambda: stream.refused > 0, message="stream refused during the outage")

    await asyncio.sleep(max(0.0, outage - (time.monotonic() - outage_started)))  # the outage
    await server.astart()
    await eventually(
        lambda: all(r.calls == 1 for r in resyncs.values()), timeout=5, message="resync callbacks"
    )
    assert publisher.connected
    assert subscriber.connected
    assert await publisher.ping() is True
    assert publisher.stats.reconnects == subscriber.stats.reconnects == 1

    # Everything published after the recovery arrives, in order, on every channel.
    mark = len(stream.sent)
    await eventually(lambda: len(stream.sent) >= mark + 20, message="stream resumed")
    await stream.stop()
    after = stream.sent[mark:]
    await eventually(lambda: got.payloads[-len(after) :] == after, message="post-recovery stream")
    await publisher.publish("room:late", b"nobody listens")  # the failed subscribe left nothing
    await publisher.publish("room:r:events", b"after")
    await eventually(lambda: events.payloads == [b"after"], message="events channel resubscribed")
    assert b"nobody listens" not in got.payloads
    assert stream.slowest < FAST["op_timeout"] + 0.5  # no publish ever hung


async def test_watchdog_notices_a_silent_cut_and_the_bus_recovers(
    server: RedisServer, buses: list[RedisBus]
) -> None:
    proxy = TcpProxy("127.0.0.1", server.port)
    await proxy.start()
    try:
        through_proxy = await start_bus(buses, proxy.url())
        direct = await start_bus(buses, server.url)
        resyncs = Resyncs()
        through_proxy.on_reconnect(resyncs)
        got = Recorder()
        await through_proxy.subscribe("room:cut", got)
        await direct.publish("room:cut", b"before")
        await eventually(lambda: got.payloads == [b"before"], message="before the cut")

        proxy.blackhole()  # no FIN, no RST: only the missing PONG can tell
        cut_at = time.monotonic()
        started = time.monotonic()
        with pytest.raises(BusUnavailable):
            await through_proxy.publish("room:cut", b"into the void")
        assert time.monotonic() - started < FAST["op_timeout"] + 0.5  # bounded, not a hang
        await eventually(lambda: not through_proxy.connected, timeout=3, message="cut noticed")
        assert "PING" in through_proxy.last_error
        detection = time.monotonic() - cut_at
        assert detection < FAST["ping_interval"] + FAST["ping_timeout"] + 1.0

        proxy.restore()
        await eventually(lambda: resyncs.calls == 1, timeout=5, message="reconnect after restore")
        await direct.publish("room:cut", b"after")
        await eventually(lambda: got.payloads == [b"before", b"after"], message="after restore")
    finally:
        await proxy.close()


async def test_slow_link_is_not_mistaken_for_a_dead_one(
    server: RedisServer, buses: list[RedisBus]
) -> None:
    proxy = TcpProxy("127.0.0.1", server.port)
    await proxy.start()
    try:
        proxy.delay = 0.05  # 100 ms round trips, well inside ping_timeout
        slow = await start_bus(buses, proxy.url())
        direct = await start_bus(buses, server.url)
        got = Recorder()
        await slow.subscribe("room:slow", got)
        for i in range(5):
            await direct.publish("room:slow", b"%d" % i)
        await eventually(lambda: len(got.payloads) == 5, message="delivery over a slow link")
        await eventually(lambda: slow.stats.pings >= 3, timeout=5, message="pings answered")
        assert slow.stats.sessions == 1
        assert await slow.ping() is True
    finally:
        await proxy.close()


async def test_a_killed_connection_is_replaced_and_callbacks_do_not_block_delivery(
    server: RedisServer, buses: list[RedisBus]
) -> None:
    publisher = await start_bus(buses, server.url)
    subscriber = await start_bus(buses, server.url)
    got = Recorder()
    await subscriber.subscribe("room:k", got)
    release = asyncio.Event()
    later = Resyncs()

    async def broken() -> None:
        raise RuntimeError("a room failed to resync")

    async def slow() -> None:
        await release.wait()

    subscriber.on_reconnect(broken)
    subscriber.on_reconnect(later)  # still runs after a failing callback
    subscriber.on_reconnect(slow)  # and a slow one holds up nothing else
    admin = aioredis.Redis.from_url(server.url)
    try:
        name = f"hub-bus-sub-{subscriber.instance_id}"
        killed = 0
        for entry in await admin.client_list():
            if entry.get("name") == name:
                killed += await admin.client_kill_filter(_id=entry["id"])
        assert killed == 1
    finally:
        await admin.aclose()
    await eventually(lambda: later.calls == 1, timeout=5, message="callbacks after the kill")
    await publisher.publish("room:k", b"while a callback is still busy")
    await eventually(lambda: got.payloads == [b"while a callback is still busy"], message="dlv")
    release.set()


async def test_start_fails_fast_when_redis_is_absent_and_leaves_nothing_running() -> None:
    bus = RedisBus(f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0", **FAST)
    started = time.monotonic()
    with pytest.raises(BusUnavailable, match="could not connect") as raised:
        await bus.start()
    assert time.monotonic() - started < FAST["connect_timeout"] + 0.5
    assert "s3cret" not in str(raised.value)
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert not [name for name in names if name.startswith("bus-")]
    await bus.stop()  # harmless after a failed start


async def test_stop_during_an_outage_returns_promptly(
    server: RedisServer, buses: list[RedisBus]
) -> None:
    bus = RedisBus(server.url, **FAST)
    await bus.start()
    await bus.subscribe("room:s", Recorder())
    await server.astop()
    await eventually(lambda: not bus.connected, message="loss noticed")
    async with asyncio.timeout(2):
        await bus.stop()
    assert not bus.connected


async def test_password_protected_redis_right_and_wrong_password(
    buses: list[RedisBus], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with RedisServer(password="right-pw-123") as secured:
        good = await start_bus(buses, secured.url)
        got = Recorder()
        await good.subscribe("room:pw", got)
        await good.publish("room:pw", b"echo is dropped")
        other = await start_bus(buses, secured.url)
        await other.publish("room:pw", b"x")
        await eventually(lambda: got.payloads == [b"x"], message="authenticated delivery")

        wrong = RedisBus(secured.url.replace("right-pw-123", "wrong-pw-456"), **FAST)
        started = time.monotonic()
        with pytest.raises(BusUnavailable) as raised:
            await wrong.start()
        assert time.monotonic() - started < FAST["connect_timeout"]  # refused: no waiting
        for secret in ("right-pw-123", "wrong-pw-456"):
            assert secret not in str(raised.value)
            assert secret not in caplog.text
            assert secret not in repr(good)
            assert secret not in repr(wrong)


async def test_presence_fails_fast_during_an_outage_and_recovers(server: RedisServer) -> None:
    presence = RedisPresence(server.url, timeout=0.5)
    try:
        await presence.join("room", "u1", {"n": 1}, ttl=30)
        await server.astop()
        started = time.monotonic()
        with pytest.raises(PresenceUnavailable):
            await presence.count("room")
        assert time.monotonic() - started < 2.0
        await server.astart()  # an empty Redis: members come back with their next renewal
        # One retry replaces the pooled connection the restart killed: the first call works.
        assert await presence.count("room") == 0
        await presence.join("room", "u1", {"n": 1}, ttl=30)
        assert await presence.members("room") == [{"n": 1}]
    finally:
        await presence.close()
