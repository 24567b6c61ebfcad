"""Edges of the RoomServer lifecycle: start/stop, loads that race or fail, faulty presence and
stores, bus messages around loads and unloads, maintenance."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import pytest
from pycrdt import Doc, Map, Text

from rooms import RoomServer, close_codes, wire
from rooms.bus import Handler, MemoryBus, MemoryHub, Subscription
from rooms.hooks import AwarenessPayload, Extension
from rooms.presence import MemoryPresence
from rooms.protocol import encode_auth_denied
from rooms.room import insert_text
from rooms.store import MemoryStore, StoredDocument, UpdateRecord
from rooms.types import Event, Origin
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, room_id


def update_for(text: str) -> bytes:
    doc: Doc[Text] = Doc()
    doc["prompt"] = t = Text()
    t += text
    return doc.get_update()


async def test_start_stop_are_idempotent_and_work_as_a_context_manager() -> None:
    bus = MemoryBus()
    await bus.start()
    server = RoomServer(bus, MemoryStore())
    await server.stop()  # never started: nothing to do
    async with RoomServer(bus, MemoryStore(), config=FAST) as running:
        await running.start()
        assert running.instance_id == bus.instance_id
        async with running.direct("room-1") as doc:
            insert_text(doc.get("prompt", type=Text), 0, "x")
            assert running.loaded_rooms() == ["room-1"]
    assert running.loaded_rooms() == []
    await bus.stop()


async def test_api_calls_validate_room_ids(cluster: Cluster) -> None:
    s = await cluster.server()
    with pytest.raises(ValueError, match="room id"):
        async with s.server.direct("no/slashes"):
            pass
    with pytest.raises(ValueError, match="user_id or a connection_id"):
        await s.server.kick("room")
    with pytest.raises(ValueError, match="room id"):
        await s.server.close_room("../x")
    with pytest.raises(ValueError, match="admin"):
        await s.server.set_role("room", "u", "admin")


class FailingPresence(MemoryPresence):
    async def join(self, room: str, member_key: str, info: dict[str, Any], ttl: float) -> None:
        raise ConnectionError("presence down")

    async def leave(self, room: str, member_key: str) -> None:
        raise ConnectionError("presence down")

    async def members(self, room: str) -> list[dict[str, Any]]:
        raise ConnectionError("presence down")

    async def count(self, room: str) -> int:
        raise ConnectionError("presence down")


async def test_presence_outages_do_not_keep_anyone_out(cluster: Cluster) -> None:
    config = dataclasses.replace(FAST, presence_ttl=0.05)
    s = await cluster.server(presence=FailingPresence(), config=config)
    rid = room_id()
    events = await cluster.events(s.events_url(rid))
    assert (await events.wait_for("welcome"))[0]["members"] == []
    a = await cluster.yclient(s.yjs_url(rid), "a")
    second = await cluster.yclient(s.yjs_url(rid), "b")  # the limit falls back to local counts
    assert not second.closed.is_set()
    await events.wait_for("member.joined")
    await asyncio.sleep(0.1)  # a few renewals fail in the maintenance loop, which carries on
    a.insert(0, "works")
    await a.close()
    await events.wait_for("member.left")


async def test_client_auth_messages_are_ignored(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    b = await cluster.yclient(s.yjs_url(rid), "b")
    await a.send(encode_auth_denied("let me in"))
    a.insert(0, "still here")
    await b.wait_text("still here")
    assert not a.closed.is_set()


async def test_a_server_side_edit_after_unload_is_dropped(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    s = await cluster.server()
    rid = room_id()
    async with s.server.direct(rid) as doc:
        kept = doc
    await eventually(lambda: rid not in s.server.runtime.rooms, message="unloaded")
    with caplog.at_level(logging.WARNING, logger="rooms.fanout"):
        kept.get("params", type=Map)["seed"] = 1
        await eventually(lambda: "after unload" in caplog.text, message="warning")
    assert (await s.store.load(rid)).is_empty


class GatedLoadStore(MemoryStore):
    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.loading = asyncio.Event()
        self.fail = fail

    async def load(self, room: str) -> StoredDocument:
        self.loading.set()
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("database down")
        return await super().load(room)


async def test_everyone_waiting_on_a_failed_load_gets_1011(cluster: Cluster) -> None:
    store = GatedLoadStore(fail=True)
    s = await cluster.server(store=store)
    rid = room_id()
    clients = [await cluster.yclient(s.yjs_url(rid), f"c{n}", sync=False) for n in range(2)]
    events = await cluster.events(s.events_url(rid))
    await asyncio.wait_for(store.loading.wait(), 5)
    store.gate.set()
    for client in clients:
        assert await client.wait_closed() == close_codes.INTERNAL_ERROR
    assert await events.wait_closed() == close_codes.INTERNAL_ERROR
    assert rid not in s.server.runtime.rooms


async def test_bus_messages_during_a_load_are_applied_after_it(cluster: Cluster) -> None:
    hub = MemoryHub()
    store = GatedLoadStore()
    await store.append_updates("late", [UpdateRecord(update_for("stored "))], writer="w", batch=0)
    s = await cluster.server(hub=hub, store=store)
    client = await cluster.yclient(s.yjs_url("late"), "a", sync=False)
    await asyncio.wait_for(store.loading.wait(), 5)
    peer = MemoryBus(hub)
    await peer.start()
    peer_doc: Doc[Text] = Doc()
    peer_doc["prompt"] = t = Text()
    t += "from the bus"
    await peer.publish(f"{FAST.channel_prefix}late", wire.encode_update(peer_doc.get_update()))
    await peer.stop()
    store.gate.set()
    await client.wait_synced()
    await eventually(
        lambda: "stored" in client.text and "from the bus" in client.text, message="both"
    )


async def test_stop_waits_for_a_room_that_is_loading(cluster: Cluster) -> None:
    store = GatedLoadStore()
    s = await cluster.server(store=store)
    client = await cluster.yclient(s.yjs_url("slow"), "a", sync=False)
    await asyncio.wait_for(store.loading.wait(), 5)
    stopping = asyncio.create_task(s.server.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    store.gate.set()
    await asyncio.wait_for(stopping, 5)
    assert await client.wait_closed() == close_codes.GOING_AWAY
    assert "slow" not in s.server.runtime.rooms


async def test_junk_in_the_store_is_skipped(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore()
    await store.append_updates("junk", [UpdateRecord(b"\xff\xff\xff")], writer="w", batch=0)
    await store.append_updates("junk", [UpdateRecord(update_for("good"))], writer="w", batch=1)
    config = dataclasses.replace(FAST, reconcile_interval=0.05)
    s = await cluster.server(store=store, config=config)
    a = await cluster.yclient(s.yjs_url("junk"), "a")
    await a.wait_text("good")
    assert "cannot be applied" in caplog.text
    room = s.server.runtime.rooms["junk"]
    await eventually(
        lambda: room.last_reconcile > 0 and not a.closed.is_set(), message="reconciled"
    )


class AlwaysFailingStore(MemoryStore):
    async def append_updates(
        self, room: str, updates: Sequence[UpdateRecord], *, writer: str, batch: int
    ) -> bool:
        raise ConnectionError("disk full")

    async def compact(self, room: str, state: bytes, *, base: StoredDocument) -> Any:
        raise ConnectionError("disk full")


async def test_unload_gives_up_on_a_dead_store_after_retrying(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    s = await cluster.server(
        store=AlwaysFailingStore(), config=dataclasses.replace(FAST, flush_interval=0.01)
    )
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    a.insert(0, "lost")
    await eventually(lambda: "storing room updates failed" in caplog.text, message="failed")
    await a.close()
    await eventually(
        lambda: rid not in s.server.runtime.rooms, timeout=5, message="unloaded anyway"
    )
    assert "unsaved updates" in caplog.text


class BadUnsubscribeBus(MemoryBus):
    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        await super().subscribe(channel, handler)

        class Broken:
            async def unsubscribe(self) -> None:
                raise ConnectionError("gone")

        return Broken()


async def test_unsubscribe_failures_are_logged(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    s = await cluster.server(bus=BadUnsubscribeBus())
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    await a.close()
    await eventually(lambda: rid not in s.server.runtime.rooms, message="unloaded")
    assert "unsubscribe failed" in caplog.text


async def test_an_event_gap_too_old_after_reconnect_tells_sockets_to_resync(
    cluster: Cluster,
) -> None:
    hub = MemoryHub()
    store = MemoryStore(event_window=1)
    s1 = await cluster.server(hub=hub, store=store)
    s2 = await cluster.server(hub=hub, store=store)
    rid = room_id()
    e2 = await cluster.events(s2.events_url(rid))
    await e2.wait_for("welcome")
    quiet = MemoryBus()  # a private hub: its publishes reach nobody, like lost messages
    s1.server.runtime.bus, saved = quiet, s1.server.runtime.bus
    for n in range(3):
        await s1.server.emit_event(rid, "chat.message", {"text": str(n)})
    s1.server.runtime.bus = saved
    await s2.server.resync(rid)
    assert (await e2.wait_for("resync"))[0]["seq"] == 3
    await s2.server.resync("not-loaded-here")  # nothing to do


async def test_awareness_expiry_is_reported_to_extensions(cluster: Cluster) -> None:
    seen: list[AwarenessPayload] = []

    class Watch(Extension):
        async def on_awareness_update(self, payload: AwarenessPayload) -> None:
            seen.append(payload)

    s = await cluster.server(
        config=dataclasses.replace(FAST, awareness_timeout=0.1), extensions=[Watch()]
    )
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    await eventually(
        lambda: any(p.removed == (a.client_id,) and p.origin is Origin.LOCAL for p in seen),
        timeout=2,
        message="expiry reported",
    )


async def test_failing_background_tasks_are_logged(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    s = await cluster.server()

    async def boom() -> None:
        raise RuntimeError("background boom")

    s.server.runtime.spawn(boom(), "test-boom")
    await eventually(lambda: "background task failed" in caplog.text, message="logged")


async def test_held_ephemeral_events_during_a_replay_are_delivered(cluster: Cluster) -> None:
    class Gated(MemoryStore):
        gate = asyncio.Event()
        waiting = asyncio.Event()

        async def events_since(self, room: str, seq: int, *, limit: int) -> list[Event] | None:
            self.waiting.set()
            await self.gate.wait()
            return await super().events_since(room, seq, limit=limit)

    store = Gated()
    s = await cluster.server(store=store)
    rid = room_id()
    client = await cluster.events(s.events_url(rid, "since=0"))
    await asyncio.wait_for(store.waiting.wait(), 5)
    await s.server.emit_event(rid, "job.progress", {"step": 3}, persist=False)
    store.gate.set()
    progress = (await client.wait_for("job.progress"))[0]
    assert progress["data"] == {"step": 3}


async def test_drain_closes_every_socket_with_1001_and_keeps_the_room(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    a.insert(0, "kept")
    events = await cluster.events(s.events_url(rid))
    assert s.server.socket_counts() == {"yjs": 1, "events": 1}
    assert await s.server.drain(within=5) == 2
    assert await a.wait_closed() == close_codes.GOING_AWAY
    assert a.ws is not None
    assert a.ws.close_reason == "server restarting; reconnect"
    await eventually(lambda: events.closed.is_set(), 5)
    assert s.server.socket_counts() == {"yjs": 0, "events": 0}
    assert rid in s.server.loaded_rooms()  # stop() persists it later
    assert await s.server.drain() == 0


async def test_bus_stats_count_publishes_deliveries_and_lag() -> None:
    hub = MemoryHub()
    sender, receiver = MemoryBus(hub), MemoryBus(hub)
    got: list[bytes] = []

    async def handle(message: Any) -> None:
        got.append(message.payload)

    await sender.start()
    await receiver.start()
    await receiver.subscribe("ch", handle)
    await sender.publish("ch", b"x")
    await receiver.simulate_reconnect()
    assert got == [b"x"]
    assert (sender.stats.published, receiver.stats.delivered) == (1, 1)
    assert receiver.stats.lag_count == 1
    assert 0 <= receiver.stats.lag_seconds_max == receiver.stats.lag_seconds_sum
    assert (receiver.stats.reconnects, receiver.stats.resyncs) == (1, 1)
    await sender.stop()
    await receiver.stop()
