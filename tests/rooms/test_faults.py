"""Faults between processes, without processes: two RoomServers on one MemoryHub and one store.

Two invariants (issue #8, point 10):

* every edit a live process has applied reaches the store, whichever process dies (a process
  stores what it received from the bus unless its author confirms it stored it first);
* every event socket receives every stored event once, in seq order, even when the bus lost
  some of them (a process fills gaps from the store, from the highest seq up to which it has
  delivered *everything*, not from the highest seq it has seen).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pycrdt import Doc, Text

from rooms.bus import MemoryHub
from rooms.presence import MemoryPresence
from rooms.store import MemoryStore, Snapshot, StoredDocument, UpdateRecord
from rooms.types import Event
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.test_cluster import LossyBus, TokenUsers, alice_and_bob, two_processes
from tests.rooms.ykit import FAST, Served, room_id


class FreezableStore:
    """A view of a shared store whose writes can freeze, as a process' do when it is SIGKILLed:
    a frozen ``append_updates`` never returns (nothing reaches the store, nothing is confirmed)
    until ``thaw``, and then fails."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.frozen = False
        self.thawed = asyncio.Event()
        self.writers: list[str] = []  # the ``writer`` of every batch that reached the store

    async def load(self, room: str) -> StoredDocument:
        return await self.inner.load(room)

    async def append_updates(
        self, room: str, updates: Sequence[UpdateRecord], *, writer: str, batch: int
    ) -> bool:
        if self.frozen:
            await self.thawed.wait()
            raise ConnectionError("this process is dead")
        self.writers.append(writer)
        return await self.inner.append_updates(room, updates, writer=writer, batch=batch)

    async def compact(self, room: str, state: bytes, *, base: StoredDocument) -> Snapshot | None:
        if self.frozen:
            return None
        return await self.inner.compact(room, state, base=base)

    async def history(self, room: str) -> list[Snapshot]:
        return await self.inner.history(room)

    async def append_event(
        self, room: str, event_type: str, data: Mapping[str, Any], *, persist: bool
    ) -> Event:
        return await self.inner.append_event(room, event_type, data, persist=persist)

    async def events_since(self, room: str, seq: int, *, limit: int) -> list[Event] | None:
        return await self.inner.events_since(room, seq, limit=limit)

    async def last_seq(self, room: str) -> int:
        return await self.inner.last_seq(room)


async def _pair(cluster: Cluster, **config: Any) -> tuple[Served, Served, MemoryStore]:
    hub = MemoryHub()
    shared = MemoryStore()
    presence = MemoryPresence()
    cfg = dataclasses.replace(FAST, **config)
    served = []
    for _ in range(2):
        served.append(
            await cluster.server(
                bus=LossyBus(hub),
                store=FreezableStore(shared),
                presence=presence,
                extensions=[TokenUsers()],
                config=cfg,
            )
        )
    stores = [process.store for process in served]
    close = cluster.close

    async def close_thawed() -> None:
        for store in stores:
            assert isinstance(store, FreezableStore)
            store.thawed.set()  # a "dead" process' stuck flush ends, so it can be torn down
        await close()

    cluster.close = close_thawed  # type: ignore[method-assign]
    return served[0], served[1], shared


def _kill(process: Served) -> None:
    """What SIGKILL does to a process, seen from the others: it stops publishing and storing."""
    bus, store = process.bus, process.store
    assert isinstance(bus, LossyBus)
    assert isinstance(store, FreezableStore)
    bus.drop = True
    store.frozen = True


async def _stored_text(store: MemoryStore, rid: str) -> str:
    doc: Doc[Any] = Doc()
    doc["prompt"] = prompt = Text()
    for update in (await store.load(rid)).all_updates:
        doc.apply_update(update)
    return str(prompt)


def _text(process: Served, rid: str) -> str:
    return str(process.server.runtime.rooms[rid].doc["prompt"])


async def test_edits_of_a_killed_process_are_stored_when_its_peer_unloads(
    cluster: Cluster,
) -> None:
    s1, s2, shared = await _pair(cluster)
    rid = room_id()
    a = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    b = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
    a.insert(0, "hello ")
    await eventually(lambda: "hello " in _text(s2, rid), message="hello crosses")
    await eventually(lambda: _stored_text(shared, rid), message="hello stored")
    assert await _stored_text(shared, rid) == "hello "
    store1 = s1.store
    assert isinstance(store1, FreezableStore)
    store1.frozen = True  # process one's next flush never lands...
    a.insert(len(a.text), "world")
    await eventually(lambda: _text(s2, rid) == "hello world", message="world crosses")
    _kill(s1)  # ...because it is killed now
    b.insert(len(b.text), " !!!")
    await eventually(lambda: _text(s2, rid) == "hello world !!!", message="B's edit on s2")
    await b.close()
    await eventually(lambda: not s2.server.is_loaded(rid), message="room unloads on s2")
    assert await _stored_text(shared, rid) == "hello world !!!"


async def test_edits_of_a_killed_process_are_stored_while_the_room_stays_loaded(
    cluster: Cluster,
) -> None:
    s1, s2, shared = await _pair(cluster, peer_store_timeout=0.3)
    rid = room_id()
    a = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    b = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
    store1 = s1.store
    assert isinstance(store1, FreezableStore)
    store1.frozen = True
    a.insert(0, "world")
    await b.wait_text("world")
    _kill(s1)

    async def stored() -> bool:
        return await _stored_text(shared, rid) == "world"

    # Within the flush window plus the time process two waits for process one's confirmation.
    await eventually(stored, timeout=2, message="process two stored what process one lost")
    assert s2.server.is_loaded(rid)


async def test_healthy_processes_do_not_store_each_others_edits(cluster: Cluster) -> None:
    s1, s2, shared = await _pair(cluster, peer_store_timeout=0.3)
    rid = room_id()
    a = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    b = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
    for word in ("one ", "two ", "three"):
        a.insert(len(a.text), word)
        await b.wait_text(a.text)
    room2 = s2.server.runtime.rooms[rid]
    await eventually(lambda: not room2.unconfirmed, message="process one confirmed every edit")
    await eventually(lambda: _stored_text(shared, rid), message="stored by process one")
    store1, store2 = s1.store, s2.store
    assert isinstance(store1, FreezableStore)
    assert isinstance(store2, FreezableStore)
    assert await _stored_text(shared, rid) == "one two three"
    assert store1.writers
    assert room2.adopted == 0
    assert store2.writers == []  # confirmed by process one: process two wrote nothing


def _stored_events(messages: list[dict[str, Any]]) -> list[tuple[int, str]]:
    kinds = {"chat.message", "job.succeeded"}
    return [(m["seq"], m["type"]) for m in messages if m.get("type") in kinds]


async def test_events_during_a_bus_outage_reach_every_socket_in_order(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster)
    store = s1.store
    rid = room_id()
    e1, e2 = await alice_and_bob(cluster, s1, s2, rid)
    await e1.send({"type": "chat.send", "data": {"text": "before"}})
    for client in (e1, e2):
        await client.wait_for("chat.message")
    bus1, bus2 = s1.bus, s2.bus
    assert isinstance(bus1, LossyBus)
    assert isinstance(bus2, LossyBus)
    bus1.drop = bus2.drop = True  # the outage
    await e2.send({"type": "chat.send", "data": {"text": "on two"}})
    await e2.wait_for("chat.message", 2)
    await s2.server.emit_event(rid, "job.succeeded", {"job_id": "j"})  # the worker's
    await e1.send({"type": "chat.send", "data": {"text": "on one"}})
    await e1.wait_for("chat.message", 2)
    bus1.drop = bus2.drop = False
    await bus1.simulate_reconnect()
    await bus2.simulate_reconnect()
    expected = [(e.seq, e.type) for e in (await store.events_since(rid, 0, limit=100) or [])]
    assert len(expected) == 4
    for client in (e1, e2):
        await eventually(
            lambda: all(len(_stored_events(c.messages)) >= 4 for c in (e1, e2)),
            message="every event on every socket",
        )
        assert _stored_events(client.messages) == expected  # once each, in seq order
        assert client.of_type("resync") == []


async def test_a_process_fills_a_gap_from_the_store_before_the_bus_returns(
    cluster: Cluster,
) -> None:
    """Process one's own event follows two it never got: its sockets get all three, in order,
    from the store, while the bus is still down."""
    s1, s2 = await two_processes(cluster)
    store = s1.store
    rid = room_id()
    e1, e2 = await alice_and_bob(cluster, s1, s2, rid)
    bus2 = s2.bus
    assert isinstance(bus2, LossyBus)
    bus2.drop = True  # process two's publishes are lost
    await e2.send({"type": "chat.send", "data": {"text": "lost one"}})
    await e2.wait_for("chat.message")
    await s2.server.emit_event(rid, "job.succeeded", {"job_id": "lost two"})
    await e1.send({"type": "chat.send", "data": {"text": "mine"}})
    await e1.wait_for("chat.message", 2)
    expected = [(e.seq, e.type) for e in (await store.events_since(rid, 0, limit=100) or [])]
    assert _stored_events(e1.messages) == expected
    assert [m["data"]["text"] for m in e1.of_type("chat.message")] == ["lost one", "mine"]


async def test_a_peer_that_lost_its_publishes_makes_the_others_catch_up(cluster: Cluster) -> None:
    """Only process one's publishes failed (its bus then resyncs it); process two stays connected
    and sees no later event, yet learns from process one's tip that it missed one."""
    s1, s2 = await two_processes(cluster)
    rid = room_id()
    await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")  # loads the room on s1
    e2 = await cluster.events(s2.events_url(rid, "token=bob"))
    await e2.wait_for("welcome")
    bus1 = s1.bus
    assert isinstance(bus1, LossyBus)
    bus1.drop = True
    await s1.server.emit_event(rid, "job.succeeded", {"job_id": "j"})
    bus1.drop = False
    await bus1.simulate_reconnect()  # what RedisBus does after a failed publish
    await e2.wait_for("job.succeeded")
    assert len(e2.of_type("job.succeeded")) == 1


async def test_a_gap_the_store_cannot_fill_ends_in_one_resync(cluster: Cluster) -> None:
    """More events were lost than ``replay_limit``: the sockets get one ``resync`` (reload over
    HTTP up to its seq) instead of a partial replay, then live events again."""
    s1, s2 = await two_processes(cluster, config=dataclasses.replace(FAST, replay_limit=2))
    rid = room_id()
    e1 = await cluster.events(s1.events_url(rid, "token=alice"))
    await e1.wait_for("welcome")
    await cluster.events(s2.events_url(rid, "token=bob"))  # loads the room on s2
    bus2 = s2.bus
    assert isinstance(bus2, LossyBus)
    bus2.drop = True
    for i in range(3):
        await s2.server.emit_event(rid, "job.succeeded", {"i": i})
    mine = await s1.server.emit_event(rid, "job.succeeded", {"i": "mine"})
    (resync,) = await e1.wait_for("resync")
    assert resync["seq"] >= mine.seq  # the reload it asks for covers everything up to here
    assert _stored_events(e1.messages) == []  # no partial replay
    bus2.drop = False
    later = await s2.server.emit_event(rid, "job.succeeded", {"i": "later"})
    await eventually(lambda: _stored_events(e1.messages) == [(later.seq, "job.succeeded")])
    assert len(e1.of_type("resync")) == 1
