"""RoomServer lifecycle and failure handling: handshake policy, load/unload races, store and bus
faults, periodic maintenance."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from pycrdt import Doc, Text
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rooms import close_codes, wire
from rooms.bus import BusMessage, MemoryBus, MemoryHub
from rooms.config import RoomConfig
from rooms.hooks import (
    AuthenticatePayload,
    ConnectPayload,
    DisconnectPayload,
    Extension,
    Reject,
)
from rooms.presence import MemoryPresence
from rooms.store import MemoryStore, StoredDocument, UpdateRecord
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, open_stalled_ws, open_ws, room_id


def update_for(text: str) -> bytes:
    doc: Doc[Text] = Doc()
    doc["prompt"] = t = Text()
    t += text
    return doc.get_update()


async def stored_text(store: MemoryStore, rid: str) -> str:
    doc: Doc[Any] = Doc()
    for update in (await store.load(rid)).all_updates:
        doc.apply_update(update)
    return str(doc.get("prompt", type=Text))


async def stored_is(store: MemoryStore, rid: str, expected: str) -> bool:
    return await stored_text(store, rid) == expected


# --- handshake ------------------------------------------------------------------------------


async def test_origin_outside_the_allow_list_is_refused_before_accept(cluster: Cluster) -> None:
    config = dataclasses.replace(FAST, allowed_origins=frozenset({"https://hub.example"}))
    s = await cluster.server(config=config)
    rid = room_id()
    for url in (s.yjs_url(rid), s.events_url(rid)):
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(url, origin="https://evil.example")
        assert refused.value.response.status_code == 403
    ok = await cluster.yclient(s.yjs_url(rid), "a", origin="https://hub.example/")
    assert not ok.closed.is_set()
    await cluster.yclient(s.yjs_url(rid), "no-origin")  # non-browser clients send none


async def test_an_unexpected_hook_error_closes_with_1011(cluster: Cluster) -> None:
    class Broken(Extension):
        async def on_connect(self, payload: ConnectPayload) -> None:
            raise RuntimeError("bug")

    s = await cluster.server(extensions=[Broken()])
    client = await cluster.yclient(s.yjs_url(room_id()), "a", sync=False)
    assert await client.wait_closed() == close_codes.INTERNAL_ERROR


# --- lifecycle ------------------------------------------------------------------------------


async def test_stop_closes_sockets_with_1001_and_persists(cluster: Cluster) -> None:
    s = await cluster.server(config=dataclasses.replace(FAST, flush_interval=30))
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    events = await cluster.events(s.events_url(rid))
    await events.wait_for("welcome")
    a.insert(0, "saved on shutdown")
    await eventually(
        lambda: str(s.server.runtime.rooms[rid].doc["prompt"]) == a.text, message="applied"
    )
    await s.server.stop()
    assert await a.wait_closed() == close_codes.GOING_AWAY
    assert await events.wait_closed() == close_codes.GOING_AWAY
    assert await stored_text(s.store, rid) == "saved on shutdown"  # type: ignore[arg-type]
    late = await cluster.yclient(s.yjs_url(rid), "late", sync=False)
    assert await late.wait_closed() == close_codes.GOING_AWAY
    with pytest.raises(Reject, match=r"going away"):
        async with s.server.direct(rid):
            pass


class BrokenLoadStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.broken = True
        self.loads = 0

    async def load(self, room: str) -> StoredDocument:
        self.loads += 1
        if self.broken:
            raise ConnectionError("database down")
        return await super().load(room)


async def test_a_failed_load_closes_1011_and_the_next_join_retries(cluster: Cluster) -> None:
    store = BrokenLoadStore()
    s = await cluster.server(store=store)
    rid = room_id()
    first = await cluster.yclient(s.yjs_url(rid), "a", sync=False)
    assert await first.wait_closed() == close_codes.INTERNAL_ERROR
    assert rid not in s.server.runtime.rooms
    store.broken = False
    second = await cluster.yclient(s.yjs_url(rid), "b")
    assert s.server.is_loaded(rid)
    assert not second.closed.is_set()


class GatedLoadStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.loads = 0

    async def load(self, room: str) -> StoredDocument:
        self.loads += 1
        await self.gate.wait()
        return await super().load(room)


async def test_joins_during_a_load_wait_for_it_and_share_one_load(cluster: Cluster) -> None:
    store = GatedLoadStore()
    await store.append_updates("shared", [UpdateRecord(update_for("已保存"))], writer="w", batch=0)
    s = await cluster.server(store=store)
    clients = await asyncio.gather(
        *(cluster.yclient(s.yjs_url("shared"), f"c{n}", sync=False) for n in range(3))
    )
    await eventually(lambda: store.loads == 1, message="loading")
    store.gate.set()
    for client in clients:
        await client.wait_synced()
        await client.wait_text("已保存")
    assert store.loads == 1


class GatedAppendStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()

    async def append_updates(
        self, room: str, updates: Sequence[UpdateRecord], *, writer: str, batch: int
    ) -> bool:
        self.waiting.set()
        await self.gate.wait()
        return await super().append_updates(room, updates, writer=writer, batch=batch)


async def test_a_join_during_unload_waits_and_reloads_the_saved_state(cluster: Cluster) -> None:
    store = GatedAppendStore()
    s = await cluster.server(store=store, config=dataclasses.replace(FAST, flush_interval=30))
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    a.insert(0, "持久")
    await eventually(
        lambda: str(s.server.runtime.rooms[rid].doc["prompt"]) == "持久", message="applied"
    )
    store.gate.clear()
    await a.close()
    await asyncio.wait_for(store.waiting.wait(), 5)  # the unload is stuck in its flush
    b = YLate = await cluster.yclient(s.yjs_url(rid), "b", sync=False)
    await asyncio.sleep(0.05)
    assert not YLate.synced.is_set()  # waits for the unload
    store.gate.set()
    await b.wait_synced()
    await b.wait_text("持久")


class FlakyStore(MemoryStore):
    """The first append is stored but reports a failure (a commit whose ack was lost)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    async def append_updates(
        self, room: str, updates: Sequence[UpdateRecord], *, writer: str, batch: int
    ) -> bool:
        self.calls.append((writer, batch))
        stored = await super().append_updates(room, updates, writer=writer, batch=batch)
        if len(self.calls) == 1:
            raise TimeoutError("ack lost")
        return stored


async def test_a_failed_flush_is_retried_with_the_same_key_and_stored_once(
    cluster: Cluster,
) -> None:
    store = FlakyStore()
    s = await cluster.server(store=store, config=dataclasses.replace(FAST, flush_interval=0.02))
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    a.insert(0, "once")
    await eventually(lambda: len(store.calls) >= 2, message="retried")
    assert store.calls[0] == store.calls[1]
    a.insert(4, "!")
    await eventually(lambda: stored_is(store, rid, "once!"), message="stored")
    assert len((await store.load(rid)).updates) == 2  # not three: the retry was deduplicated


class FailingBus(MemoryBus):
    async def publish(self, channel: str, payload: bytes) -> None:
        raise ConnectionError("redis down")

    def publish_nowait(self, channel: str, payload: bytes) -> None:
        raise ConnectionError("redis down")


async def test_bus_failures_do_not_break_the_room(cluster: Cluster) -> None:
    s = await cluster.server(bus=FailingBus())
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    b = await cluster.yclient(s.yjs_url(rid), "b")
    a.insert(0, "local only")
    await b.wait_text("local only")
    await eventually(lambda: stored_is(s.store, rid, "local only"), message="stored")  # type: ignore[arg-type]


class StuckBus(MemoryBus):
    """A bus whose transport hangs (Redis not answering) until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def _deliver(self, message: BusMessage) -> None:
        await self.release.wait()
        await super()._deliver(message)


async def test_a_stuck_bus_does_not_hold_back_the_local_room(cluster: Cluster) -> None:
    bus = StuckBus()
    s = await cluster.server(bus=bus)
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    b = await cluster.yclient(s.yjs_url(rid), "b")
    # Each edit is published; the reader must not wait for the bus before the next message.
    for i, char in enumerate("stuck"):
        a.insert(i, char)
    await b.wait_text("stuck")
    assert bus._outbox  # still queued behind the stuck transport, in order
    bus.release.set()
    await eventually(lambda: not bus._outbox, message="queue drained once the bus is back")


async def test_junk_on_the_bus_is_dropped(cluster: Cluster) -> None:
    hub = MemoryHub()
    s = await cluster.server(hub=hub)
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    rogue = MemoryBus(hub)
    await rogue.start()
    channel = f"{s.server.config.channel_prefix}{rid}"
    for junk in [
        b"",
        b"\x09",
        wire.encode_update(b"\xff\xff"),
        wire.encode_awareness(b"\x01\x01\x01\x01x"),
        wire.encode_resync(b"\xff\xff", b"\x00\x00", want_reply=True),
        wire.encode_control({"action": "explode"}),
        wire.encode_control({"action": "role", "user_id": "x", "role": "god"}),
    ]:
        await rogue.publish(channel, junk)
    await rogue.publish(channel + ":events", b"not json")
    await rogue.publish(channel, wire.encode_update(update_for("ok")))
    await a.wait_text("ok")
    await rogue.stop()


async def test_bus_callbacks_tolerate_a_room_that_was_just_unloaded(cluster: Cluster) -> None:
    hub = MemoryHub()
    s = await cluster.server(hub=hub)
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    bus = s.bus
    assert isinstance(bus, MemoryBus)
    handlers = [h for channel, hs in bus._subscribers.items() if rid in channel for h in hs]
    assert len(handlers) == 2
    await a.close()
    await eventually(lambda: rid not in s.server.runtime.rooms, message="unloaded")
    message = BusMessage(
        f"{s.server.config.channel_prefix}{rid}", "other", wire.encode_update(update_for("x"))
    )
    for handler in handlers:
        await handler(message)  # must not raise nor resurrect the room
    assert rid not in s.server.runtime.rooms


# --- maintenance ----------------------------------------------------------------------------


async def test_periodic_reconcile_fills_gaps_in_both_directions(cluster: Cluster) -> None:
    hub = MemoryHub()
    config = dataclasses.replace(FAST, reconcile_interval=0.2, keepalive_interval=0.2)
    s = await cluster.server(hub=hub, config=config)
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    # Another process stored an update whose bus message we never got...
    await s.store.append_updates(rid, [UpdateRecord(update_for("from store"))], writer="x", batch=0)
    # ...and a third one published an update and died before storing it.
    ghost = MemoryBus(hub)
    await ghost.start()
    ghost_doc: Doc[Text] = Doc()
    ghost_doc["prompt"] = t = Text()
    t += "ghost "
    await ghost.publish(f"{config.channel_prefix}{rid}", wire.encode_update(ghost_doc.get_update()))
    await ghost.stop()
    await eventually(
        lambda: "from store" in a.text and "ghost" in a.text, timeout=3, message="pulled"
    )
    await eventually(lambda: stored_is(s.store, rid, a.text), timeout=3, message="pushed")  # type: ignore[arg-type]


async def test_stale_awareness_expires_and_presence_is_renewed(cluster: Cluster) -> None:
    presence = MemoryPresence()
    config = dataclasses.replace(FAST, awareness_timeout=0.15, presence_ttl=0.15)
    s = await cluster.server(config=config, presence=presence)
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    await eventually(lambda: s.server.runtime.rooms[rid].awareness.entries(), message="awareness")
    await eventually(
        lambda: not s.server.runtime.rooms[rid].awareness.entries(), timeout=2, message="expired"
    )
    await asyncio.sleep(0.35)  # two TTLs: only renewal keeps the member listed
    assert await presence.count(rid) == 1
    assert not a.closed.is_set()


async def test_a_stuck_slow_consumer_is_aborted_after_the_close_timeout(cluster: Cluster) -> None:
    gone: list[int] = []

    class Watch(Extension):
        async def on_disconnect(self, payload: DisconnectPayload) -> None:
            gone.append(payload.close_code)

    config = dataclasses.replace(
        FAST, outbound_queue=32, close_timeout=0.3, message_burst=10_000, messages_per_second=10_000
    )
    s = await cluster.server(config=config, extensions=[Watch()])
    rid = room_id()
    writer = await cluster.yclient(s.yjs_url(rid), "writer")
    slow = await open_stalled_ws(s, rid)
    await eventually(lambda: len(s.server.local_connections(rid)) == 2, message="joined")
    room_text = s.server.runtime.rooms[rid].doc.get("prompt", type=Text)
    for n in range(2000):
        writer.prompt.clear()
        writer.prompt.insert(0, f"{n:06d}" + "x" * 32_000)
        if n % 10 == 9:
            await eventually(lambda: str(room_text) == writer.text, message="server caught up")
            if gone:
                break
    # Never reading again: the session is ended server-side without a close handshake.
    await eventually(lambda: gone == [close_codes.SLOW_CONSUMER], timeout=10, message="aborted")
    with pytest.raises(ConnectionClosed):
        await drain(slow)


async def drain(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


class SlowAuth(Extension):
    """Authentication that waits for ``release`` (a database under a handshake burst)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = 0

    async def on_authenticate(self, payload: AuthenticatePayload) -> None:
        self.waiting += 1
        await self.release.wait()


async def test_handshakes_beyond_the_admission_cap_get_try_again_later(cluster: Cluster) -> None:
    auth = SlowAuth()
    config = dataclasses.replace(FAST, max_concurrent_admissions=2, admission_timeout=0.2)
    s = await cluster.server(config=config, extensions=[auth])
    rid = room_id()
    first = [await cluster.yclient(s.yjs_url(rid), f"u{i}", sync=False) for i in range(2)]
    await eventually(lambda: auth.waiting == 2, message="two handshakes in progress")
    late = await cluster.yclient(s.yjs_url(rid), "late", sync=False)
    # Refused without ever reaching authentication (the database stays unloaded).
    assert await late.wait_closed() == close_codes.TRY_AGAIN_LATER
    assert not close_codes.stops_stock_clients(close_codes.TRY_AGAIN_LATER)
    assert auth.waiting == 2
    assert s.server.admissions_refused == 1
    auth.release.set()
    for client in first:
        await client.wait_synced()
    # Admission slots are released once a socket joined, not when it closes.
    again = [await cluster.yclient(s.yjs_url(rid), f"v{i}") for i in range(3)]
    again[0].insert(0, "in")
    await first[0].wait_text("in")
    assert s.server.admissions_refused == 1


def test_admission_settings_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrent_admissions"):
        RoomConfig(max_concurrent_admissions=0)
    with pytest.raises(ValueError, match="admission_timeout"):
        RoomConfig(admission_timeout=0)
