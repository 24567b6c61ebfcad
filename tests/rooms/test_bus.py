"""One behavioural contract for every Bus backend: MemoryBus (shared MemoryHub) and RedisBus
(the shared Redis, a unique channel prefix per test). A backend that passes here can carry rooms.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import pytest
import redis.asyncio as aioredis

from rooms.bus import Bus, BusMessage, BusUnavailable, MemoryBus, MemoryHub
from rooms.bus_redis import RedisBus
from tests.fault.redis_server import require_shared_redis
from tests.helpers import eventually, started

MakeBus = Callable[[], Awaitable[Bus]]

BINARY_PAYLOADS = [
    b"",
    b"\x00",
    b"\xc3\x28",  # invalid UTF-8 (broke broadcaster's listener for everyone)
    b"\xff\xfe\xfd\xfc",
    bytes(range(256)),
    "房间 ✓".encode(),
    os.urandom(64 * 1024),
]


class Recorder:
    """A handler that remembers what it got."""

    def __init__(self) -> None:
        self.messages: list[BusMessage] = []

    async def __call__(self, message: BusMessage) -> None:
        self.messages.append(message)

    @property
    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.messages]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[MakeBus]:
    """Factory of started buses that can all hear each other (like processes on one Redis)."""
    if request.param == "memory":
        hub = MemoryHub()

        def build() -> Bus:
            return MemoryBus(hub)
    else:
        url = require_shared_redis()
        prefix = f"test:{uuid.uuid4().hex}:"

        def build() -> Bus:
            return RedisBus(url, channel_prefix=prefix, op_timeout=3.0, connect_timeout=3.0)

    async with started(build) as make:
        yield make


def _received(recorder: Recorder, expected: list[bytes]) -> bool:
    return recorder.payloads == expected


async def force_reconnect(bus: Bus) -> None:
    """Drop the transport under ``bus`` the way production would lose it."""
    if isinstance(bus, MemoryBus):
        await bus.simulate_reconnect()
        return
    assert isinstance(bus, RedisBus)
    # Kill only this bus' own subscriber connection: the shared Redis is left alone.
    client = aioredis.Redis.from_url(require_shared_redis())
    try:
        killed = await client.client_kill_filter(
            _id=await _client_id(client, f"hub-bus-sub-{bus.instance_id}")
        )
        assert killed == 1
    finally:
        await client.aclose()


async def _client_id(client: aioredis.Redis, name: str) -> str:
    for entry in await client.client_list():
        if entry.get("name") == name:
            return str(entry["id"])
    raise AssertionError(f"no Redis client named {name}")


async def test_binary_payloads_arrive_intact_on_another_instance(make_bus: MakeBus) -> None:
    sender, receiver = await make_bus(), await make_bus()
    got = Recorder()
    await receiver.subscribe("room:bin", got)
    for payload in BINARY_PAYLOADS:
        await sender.publish("room:bin", payload)
    await eventually(lambda: len(got.messages) == len(BINARY_PAYLOADS), message="all payloads")
    assert got.payloads == BINARY_PAYLOADS
    assert {(m.channel, m.sender) for m in got.messages} == {("room:bin", sender.instance_id)}


async def test_bytearray_and_memoryview_payloads_are_accepted(make_bus: MakeBus) -> None:
    sender, receiver = await make_bus(), await make_bus()
    got = Recorder()
    await receiver.subscribe("room:views", got)
    # Typed as bytes; pycrdt and socket code hand over these too, so both backends copy them.
    await sender.publish("room:views", bytearray(b"\x01\x02"))  # type: ignore[arg-type]
    await sender.publish("room:views", memoryview(b"\x03\x04"))  # type: ignore[arg-type]
    await eventually(lambda: got.payloads == [b"\x01\x02", b"\x03\x04"], message="both payloads")
    assert all(type(p) is bytes for p in got.payloads)


async def test_own_messages_are_not_echoed(make_bus: MakeBus) -> None:
    a, b = await make_bus(), await make_bus()
    heard_by_a, heard_by_b = Recorder(), Recorder()
    await a.subscribe("room:echo", heard_by_a)
    await b.subscribe("room:echo", heard_by_b)
    await a.publish("room:echo", b"from a")
    await eventually(lambda: heard_by_b.payloads == [b"from a"], message="b hears a")
    # b's message reaches a after a's own would have (one ordered stream per subscriber), so
    # once a holds it, an echo would already be there.
    await b.publish("room:echo", b"from b")
    await eventually(lambda: heard_by_a.messages, message="a hears b")
    assert heard_by_a.payloads == [b"from b"]
    assert heard_by_b.payloads == [b"from a"]


async def test_two_instances_see_each_other(make_bus: MakeBus) -> None:
    a, b = await make_bus(), await make_bus()
    at_a, at_b = Recorder(), Recorder()
    await a.subscribe("room:both", at_a)
    await b.subscribe("room:both", at_b)
    await asyncio.gather(a.publish("room:both", b"A"), b.publish("room:both", b"B"))
    await eventually(lambda: at_a.payloads == [b"B"] and at_b.payloads == [b"A"], message="both")
    assert at_a.messages[0].sender == b.instance_id
    assert at_b.messages[0].sender == a.instance_id


async def test_messages_keep_publish_order(make_bus: MakeBus) -> None:
    sender, receiver = await make_bus(), await make_bus()
    got = Recorder()
    await receiver.subscribe("room:order", got)
    expected = [b"%d" % i for i in range(500)]
    for payload in expected:
        await sender.publish("room:order", payload)
    await eventually(lambda: len(got.messages) == len(expected), message="500 messages")
    assert got.payloads == expected


async def test_first_subscription_on_a_fresh_bus_receives_every_time(make_bus: MakeBus) -> None:
    # broadcaster + redis-py 8 lost this first message in 300 of 300 runs (ADR 0003).
    publisher = await make_bus()
    for attempt in range(50):
        fresh = await make_bus()
        got = Recorder()
        await fresh.subscribe(f"room:first:{attempt}", got)
        await publisher.publish(f"room:first:{attempt}", b"hello")
        await eventually(partial(_received, got, [b"hello"]), message=f"attempt {attempt}")
        await fresh.stop()


async def test_two_concurrent_first_subscribes_to_one_channel_both_receive(
    make_bus: MakeBus,
) -> None:
    publisher, fresh = await make_bus(), await make_bus()
    first, second = Recorder(), Recorder()
    await asyncio.gather(
        fresh.subscribe("room:twice", first), fresh.subscribe("room:twice", second)
    )
    await publisher.publish("room:twice", b"x")
    await eventually(lambda: first.payloads == second.payloads == [b"x"], message="both handlers")


async def test_unsubscribe_stops_delivery_to_that_handler_only(make_bus: MakeBus) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    gone, stays = Recorder(), Recorder()
    subscription = await receiver.subscribe("room:unsub", gone)
    await receiver.subscribe("room:unsub", stays)
    await publisher.publish("room:unsub", b"1")
    await eventually(lambda: gone.payloads == stays.payloads == [b"1"], message="first message")

    await subscription.unsubscribe()
    await subscription.unsubscribe()  # idempotent, must not remove anything else
    await publisher.publish("room:unsub", b"2")
    # Handlers of one message run in subscription order: once ``stays`` has it, ``gone`` is done.
    await eventually(lambda: stays.payloads == [b"1", b"2"], message="second message")
    assert gone.payloads == [b"1"]


async def test_resubscribe_after_the_last_unsubscribe_receives_again(make_bus: MakeBus) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    got = Recorder()
    subscription = await receiver.subscribe("room:again", got)
    await subscription.unsubscribe()
    await receiver.subscribe("room:again", got)
    await publisher.publish("room:again", b"back")
    await eventually(lambda: got.payloads == [b"back"], message="delivery after resubscribe")


async def test_many_channels_each_get_their_own_messages(make_bus: MakeBus) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    got = Recorder()
    channels = [f"room:{i}" for i in range(300)] + [f"room:{i}:events" for i in range(300)]
    await asyncio.gather(*(receiver.subscribe(channel, got) for channel in channels))
    for channel in channels:
        await publisher.publish(channel, channel.encode())
    await eventually(lambda: len(got.messages) == len(channels), message="one per channel")
    assert all(m.payload == m.channel.encode() for m in got.messages)
    assert sorted(m.channel for m in got.messages) == sorted(channels)


async def test_unsubscribed_channel_is_not_delivered(make_bus: MakeBus) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    got = Recorder()
    await receiver.subscribe("room:mine", got)
    await publisher.publish("room:other", b"not for me")
    await publisher.publish("room:mine", b"for me")
    await eventually(lambda: got.messages, message="own channel")
    assert got.payloads == [b"for me"]


async def test_failing_handler_does_not_stop_delivery(make_bus: MakeBus) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    got = Recorder()

    async def broken(message: BusMessage) -> None:
        raise RuntimeError("handler bug")

    await receiver.subscribe("room:broken", broken)
    await receiver.subscribe("room:broken", got)
    await publisher.publish("room:broken", b"1")
    await publisher.publish("room:broken", b"2")
    await eventually(lambda: got.payloads == [b"1", b"2"], message="delivery past a bad handler")


@pytest.mark.parametrize(
    ("channel", "payload", "error"),
    [
        ("room:x", "text, not bytes", TypeError),
        ("room:x", 5, TypeError),  # bytes(5) would have become five zero bytes
        ("room:x", None, TypeError),
        ("", b"x", ValueError),
        ("r" * 513, b"x", ValueError),
        (7, b"x", ValueError),
    ],
)
async def test_publish_rejects_bad_input_and_keeps_working(
    make_bus: MakeBus, channel: object, payload: object, error: type[Exception]
) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    got = Recorder()
    await receiver.subscribe("room:x", got)
    with pytest.raises(error):
        await publisher.publish(channel, payload)  # type: ignore[arg-type]
    await publisher.publish("room:x", b"fine")
    await eventually(lambda: got.payloads == [b"fine"], message="bus still works")


async def test_subscribe_rejects_bad_channel(make_bus: MakeBus) -> None:
    bus = await make_bus()
    with pytest.raises(ValueError, match="non-empty"):
        await bus.subscribe("", Recorder())


async def test_ping_is_true_while_started_and_false_after_stop(make_bus: MakeBus) -> None:
    bus = await make_bus()
    assert await bus.ping() is True
    await bus.stop()
    assert await bus.ping() is False
    await bus.stop()  # idempotent


async def test_reconnect_runs_callbacks_and_delivery_resumes(make_bus: MakeBus) -> None:
    publisher, receiver = await make_bus(), await make_bus()
    got = Recorder()
    resyncs: list[str] = []

    async def resync() -> None:
        resyncs.append(receiver.instance_id)

    receiver.on_reconnect(resync)
    await receiver.subscribe("room:rc", got)
    await force_reconnect(receiver)
    await eventually(lambda: resyncs == [receiver.instance_id], message="reconnect callback")
    await publisher.publish("room:rc", b"after")
    await eventually(lambda: got.payloads == [b"after"], message="delivery after reconnect")


async def test_publish_after_stop_raises_bus_unavailable_for_redis(make_bus: MakeBus) -> None:
    bus = await make_bus()
    await bus.stop()
    if isinstance(bus, MemoryBus):
        # In one process nothing can be unavailable; publishing after stop stays harmless.
        await bus.publish("room:x", b"x")
        return
    with pytest.raises(BusUnavailable):
        await bus.publish("room:x", b"x")
    with pytest.raises(BusUnavailable):
        await bus.subscribe("room:x", Recorder())


async def test_publish_nowait_returns_at_once_and_keeps_order_with_publish(
    make_bus: MakeBus,
) -> None:
    sender, receiver = await make_bus(), await make_bus()
    got = Recorder()
    await receiver.subscribe("room:order", got)
    expected = [b"%d" % i for i in range(300)]
    for i, payload in enumerate(expected):
        # Rooms queue updates with publish_nowait while other callers await publish: one FIFO.
        if i % 7 == 0:
            await sender.publish("room:order", payload)
        else:
            assert sender.publish_nowait("room:order", payload) is None  # type: ignore[func-returns-value]
    await eventually(lambda: len(got.payloads) >= len(expected), message="all 300")
    assert got.payloads == expected


async def test_publish_nowait_rejects_bad_input_at_once(make_bus: MakeBus) -> None:
    bus = await make_bus()
    with pytest.raises(ValueError, match="non-empty"):
        bus.publish_nowait("", b"x")
    with pytest.raises(TypeError, match="bytes"):
        bus.publish_nowait("room:x", "text")  # type: ignore[arg-type]
