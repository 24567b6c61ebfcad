"""RedisBus specifics on the shared Redis: framing, foreign frames, Redis-side subscriptions,
bounded queues, the watchdog's steady state, and secrets kept out of logs. Outages, restarts
and network cuts are in tests/fault/test_bus_redis_restart.py (private redis-server)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import pytest
import redis.asyncio as aioredis

from rooms.bus import BusMessage, BusUnavailable
from rooms.bus_redis import RedisBus
from rooms.redis_link import decode_frame, encode_frame, frame_header, redact_url
from tests.fault.redis_server import require_shared_redis
from tests.helpers import eventually, started

pytestmark = pytest.mark.redis

MakeBus = Callable[..., Awaitable[RedisBus]]


class Recorder:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def __call__(self, message: BusMessage) -> None:
        self.payloads.append(message.payload)


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
async def raw(prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client on the shared Redis, for what a foreign process would do."""
    client = aioredis.Redis.from_url(require_shared_redis())
    yield client
    await client.aclose()


@pytest.fixture
async def make_bus(prefix: str) -> AsyncIterator[MakeBus]:
    async with started(partial(RedisBus, require_shared_redis(), channel_prefix=prefix)) as make:
        yield make


def test_frame_round_trip_and_rejects() -> None:
    header = frame_header("abc123")
    assert decode_frame(encode_frame(header, b"\xff\x00")) == ("abc123", b"\xff\x00")
    assert decode_frame(encode_frame(header, b"")) == ("abc123", b"")
    assert decode_frame(b"") is None
    assert decode_frame(b"plain text from someone else") is None  # wrong version byte
    assert decode_frame(b"\x01\x00\x00") is None  # empty sender
    assert decode_frame(b"\x01\x09abc") is None  # sender longer than the frame
    assert decode_frame(b"\x01\x02\xff\xfe") is None  # sender not ASCII


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:hunter2@host:6379/0", "redis://***@host:6379/0"),
        ("rediss://user:hunter2@host:6380/1", "rediss://***@host:6380/1"),
        ("redis://host:6379/0?password=hunter2&db=2", "redis://host:6379/0?password=***&db=2"),
        ("unix:///run/redis.sock?password=hunter2", "unix:///run/redis.sock?password=***"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("hunter2@no-scheme", "<unparseable redis url>"),
    ],
)
def test_redact_url_masks_credentials(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    if "://" in url:
        assert "hunter2" not in repr(RedisBus(url))


def test_constructor_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="schemes"):
        RedisBus("http://:hunter2@host/0")
    with pytest.raises(ValueError, match="instance_id"):
        RedisBus("redis://host/0", instance_id="ü")
    with pytest.raises(ValueError, match="ping_timeout"):
        RedisBus("redis://host/0", ping_timeout=0)
    with pytest.raises(ValueError, match="max_inbox"):
        RedisBus("redis://host/0", max_inbox=0)


async def test_not_started_bus_refuses_calls() -> None:
    bus = RedisBus(require_shared_redis())
    with pytest.raises(BusUnavailable, match="not started"):
        await bus.publish("room:x", b"x")
    with pytest.raises(BusUnavailable, match="not started"):
        await bus.subscribe("room:x", Recorder())
    with pytest.raises(BusUnavailable, match="not started"):
        bus.publish_nowait("room:x", b"x")
    assert await bus.ping() is False


async def test_start_twice_is_harmless(make_bus: MakeBus) -> None:
    bus = await make_bus()
    await bus.start()
    assert bus.stats.sessions == 1
    assert await bus.ping() is True


async def test_frames_from_foreign_publishers_are_dropped(
    make_bus: MakeBus, raw: aioredis.Redis, prefix: str
) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    got = Recorder()
    await receiver.subscribe("room:f", got)
    for junk in (b"hello", b"\x01", b"\x01\x05ab", b"\x02\x01ax", "文字".encode()):
        await raw.publish(f"{prefix}room:f", junk)
    await publisher.publish("room:f", b"real")
    await eventually(lambda: got.payloads == [b"real"], message="the real message")
    assert receiver.stats.malformed_dropped == 5
    assert receiver.connected  # junk never costs the connection


async def test_channels_live_under_the_prefix(
    make_bus: MakeBus, raw: aioredis.Redis, prefix: str
) -> None:
    bus = await make_bus()
    subscription = await bus.subscribe("room:p", Recorder())
    assert await raw.pubsub_numsub(f"{prefix}room:p") == [(f"{prefix}room:p".encode(), 1)]
    await subscription.unsubscribe()
    # The last handler gone, Redis stops sending the channel to this process at all.
    await eventually(
        lambda: _numsub(raw, f"{prefix}room:p"), message="redis-side unsubscribe", timeout=3
    )


async def _numsub(raw: aioredis.Redis, channel: str) -> bool:
    return await raw.pubsub_numsub(channel) == [(channel.encode(), 0)]


async def test_publish_reports_bounded_payload(make_bus: MakeBus) -> None:
    bus = await make_bus(max_payload=16)
    await bus.publish("room:x", b"x" * 16)
    with pytest.raises(ValueError, match="exceeds 16 bytes"):
        await bus.publish("room:x", b"x" * 17)


async def test_concurrent_publishes_are_pipelined_and_all_delivered(make_bus: MakeBus) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    got = Recorder()
    await receiver.subscribe("room:burst", got)
    await asyncio.gather(*(publisher.publish("room:burst", b"%d" % i) for i in range(3000)))
    await eventually(lambda: len(got.payloads) == 3000, message="3000 messages")
    assert sorted(int(p) for p in got.payloads) == list(range(3000))
    assert publisher.stats.published == 3000


async def test_full_publish_queue_fails_fast(make_bus: MakeBus) -> None:
    bus = await make_bus(max_outbox=10)
    results = await asyncio.gather(
        *(bus.publish("room:q", b"x") for _ in range(50)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BusUnavailable)]
    assert refused
    assert all("queue is full" in str(r) for r in refused)
    assert len(refused) + results.count(None) == 50
    await bus.publish("room:q", b"x")  # the queue drains and publishing works again


async def test_inbox_overflow_drops_then_triggers_a_resync(make_bus: MakeBus) -> None:
    publisher = await make_bus()
    receiver = await make_bus(max_inbox=5)
    release = asyncio.Event()
    got: list[bytes] = []

    async def slow(message: BusMessage) -> None:
        await release.wait()
        got.append(message.payload)

    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(len(got))

    receiver.on_reconnect(resync)
    await receiver.subscribe("room:slow", slow)
    for i in range(30):
        await publisher.publish("room:slow", b"%d" % i)
    await eventually(lambda: receiver.stats.overflow_dropped > 0, message="overflow")
    release.set()
    # A gap needs the same repair as an outage: the callbacks run once the backlog drained.
    await eventually(lambda: resyncs, message="resync after overflow")
    assert receiver.stats.sessions == 1  # the connection itself was never lost
    assert len(got) + receiver.stats.overflow_dropped == 30
    await publisher.publish("room:slow", b"later")
    await eventually(lambda: got[-1:] == [b"later"], message="delivery after the gap")


async def test_watchdog_pings_an_idle_connection_without_false_alarms(make_bus: MakeBus) -> None:
    bus = await make_bus(ping_interval=0.02, ping_timeout=0.5)
    await eventually(lambda: bus.stats.pings >= 10, message="ten pings answered")
    assert bus.stats.sessions == 1
    assert bus.connected


async def test_handlers_may_subscribe_and_publish_reentrantly(make_bus: MakeBus) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    got = Recorder()

    async def chain(message: BusMessage) -> None:
        # A room loading on a bus message subscribes another channel from inside a handler.
        await receiver.subscribe("room:chained", got)
        await receiver.publish("room:reply", message.payload)

    replies = Recorder()
    await publisher.subscribe("room:reply", replies)
    await receiver.subscribe("room:start", chain)
    await publisher.publish("room:start", b"go")
    await eventually(lambda: replies.payloads == [b"go"], message="reply from inside a handler")
    await publisher.publish("room:chained", b"next")
    await eventually(lambda: got.payloads == [b"next"], message="subscription made in a handler")


async def test_refused_credentials_fail_start_at_once_without_leaking_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The shared Redis has no password, so AUTH is refused: a configuration error that waiting
    # cannot fix, hence no wait for connect_timeout. (Wrong/right passwords against a server
    # that requires one: tests/fault.)
    url = require_shared_redis().replace("redis://", "redis://:hunter2-secret@", 1)
    caplog.set_level(logging.DEBUG)
    bus = RedisBus(url, connect_timeout=10.0)
    started = time.monotonic()
    with pytest.raises(BusUnavailable, match=r"\*\*\*@") as raised:
        await bus.start()
    assert time.monotonic() - started < 5.0
    assert "hunter2" not in str(raised.value)
    assert "hunter2" not in caplog.text
    assert "hunter2" not in repr(bus)


async def test_publish_nowait_is_bounded_and_counted(make_bus: MakeBus) -> None:
    bus = await make_bus(max_outbox=10, max_payload=16)
    with pytest.raises(ValueError, match="exceeds 16 bytes"):
        bus.publish_nowait("room:q", b"x" * 17)
    for _ in range(10):  # no await in between: the publisher task cannot drain the queue
        bus.publish_nowait("room:q", b"x")
    for _ in range(40):
        with pytest.raises(BusUnavailable, match="queue is full"):
            bus.publish_nowait("room:q", b"x")
    await eventually(lambda: bus.stats.published == 10, message="the ten queued are sent")
    assert bus.stats.publish_failures == 40


async def test_lost_nowait_publish_is_counted_and_triggers_a_resync(
    make_bus: MakeBus, raw: aioredis.Redis
) -> None:
    sender, receiver = await make_bus(), await make_bus()
    got = Recorder()
    await receiver.subscribe("room:lost", got)
    sender.publish_nowait("room:lost", b"first")
    await eventually(lambda: got.payloads == [b"first"], message="first delivered")
    resyncs: list[str] = []

    async def resync() -> None:
        resyncs.append("resync")

    sender.on_reconnect(resync)
    # Cut only the publisher connection: nobody awaits a queued publish, so the bus itself
    # must notice the loss and ask the rooms to resync (their state carries the lost update).
    name = f"hub-bus-pub-{sender.instance_id}"
    ids = [str(c["id"]) for c in await raw.client_list() if c.get("name") == name]
    assert len(ids) == 1
    await raw.client_kill_filter(_id=ids[0])
    sender.publish_nowait("room:lost", b"into the void")
    await eventually(lambda: resyncs, message="resync after a lost publish")
    assert sender.stats.publish_failures >= 1
    assert sender.stats.sessions == 1  # the subscriber connection was never lost
    sender.publish_nowait("room:lost", b"after")  # the publisher reconnects on its own
    await eventually(lambda: got.payloads[-1:] == [b"after"], message="publishing again")
