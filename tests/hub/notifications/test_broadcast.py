"""hub.broadcast: a message reaches this process's subscribers and the other processes', one bus
subscription per channel however many local subscribers, and a bus that is down costs the other
processes the message, never this one or the caller."""

from __future__ import annotations

import pytest

from hub.broadcast import Broadcast
from rooms.bus import BusMessage, BusUnavailable, MemoryBus, MemoryHub
from tests.helpers import eventually


class Inbox:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def __call__(self, message: BusMessage) -> None:
        self.payloads.append(message.payload)


async def test_publish_reaches_local_and_remote_subscribers() -> None:
    hub = MemoryHub()
    here, there = MemoryBus(hub), MemoryBus(hub)
    await here.start()
    await there.start()
    mine, theirs = Broadcast(here), Broadcast(there)
    a, b, c = Inbox(), Inbox(), Inbox()
    await mine.subscribe("user:1", a)
    await mine.subscribe("user:1", b)
    await theirs.subscribe("user:1", c)
    assert await mine.publish("user:1", b"hi")
    assert a.payloads == b.payloads == [b"hi"]
    await eventually(lambda: c.payloads == [b"hi"])
    await mine.publish("user:2", b"nobody listens")
    assert a.payloads == [b"hi"]
    await here.stop()
    await there.stop()


async def test_one_bus_subscription_per_channel_until_the_last_leaves() -> None:
    hub = MemoryHub()
    here, there = MemoryBus(hub), MemoryBus(hub)
    await here.start()
    await there.start()
    mine = Broadcast(here)
    first, second = Inbox(), Inbox()
    one = await mine.subscribe("user:1", first)
    two = await mine.subscribe("user:1", second)
    assert len(here._subscribers["user:1"]) == 1
    await one.unsubscribe()
    await one.unsubscribe()  # twice is harmless
    assert mine.subscribed("user:1")
    await Broadcast(there).publish("user:1", b"still here")
    await eventually(lambda: second.payloads == [b"still here"])
    assert first.payloads == []
    await two.unsubscribe()
    assert not mine.subscribed("user:1")
    assert "user:1" not in here._subscribers
    await here.stop()
    await there.stop()


async def test_a_bus_that_is_down_still_delivers_here(caplog: pytest.LogCaptureFixture) -> None:
    bus = MemoryBus()
    await bus.start()
    broadcast = Broadcast(bus)
    inbox = Inbox()
    await broadcast.subscribe("user:1", inbox)

    async def refuse(channel: str, payload: bytes) -> None:
        raise BusUnavailable("down")

    bus.publish = refuse  # type: ignore[method-assign]
    assert await broadcast.publish("user:1", b"local") is False
    assert inbox.payloads == [b"local"]
    assert "broadcast to other processes failed" in caplog.text
    await bus.stop()


async def test_a_failing_subscriber_does_not_starve_the_others() -> None:
    bus = MemoryBus()
    await bus.start()
    broadcast = Broadcast(bus)
    inbox = Inbox()

    async def broken(message: BusMessage) -> None:
        raise RuntimeError("bug")

    await broadcast.subscribe("user:1", broken)
    await broadcast.subscribe("user:1", inbox)
    await broadcast.publish("user:1", b"x")
    assert inbox.payloads == [b"x"]
    await bus.stop()
