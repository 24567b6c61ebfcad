"""Two RoomServers on one MemoryHub behave like two processes on Redis."""

from __future__ import annotations

import dataclasses

from rooms import close_codes
from rooms.bus import MemoryBus, MemoryHub
from rooms.hooks import AuthenticatePayload, Extension
from rooms.presence import MemoryPresence
from rooms.store import MemoryStore
from rooms.types import Role
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, EventClient, Served, room_id


class TokenUsers(Extension):
    """``?token=<user>[:<role>]``."""

    async def on_authenticate(self, payload: AuthenticatePayload) -> None:
        if payload.token:
            user, _, role = payload.token.partition(":")
            payload.connection.authenticate(user_id=user, role=Role(role or "editor"))


class LossyBus(MemoryBus):
    """Drops everything it is asked to publish while ``drop`` is set (a bus outage)."""

    drop = False
    dropped = 0

    async def publish(self, channel: str, payload: bytes) -> None:
        if self.drop:
            self.dropped += 1
            return
        await super().publish(channel, payload)

    def publish_nowait(self, channel: str, payload: bytes) -> None:
        if self.drop:
            self.dropped += 1
            return
        super().publish_nowait(channel, payload)


async def two_processes(cluster: Cluster, **kwargs: object) -> tuple[Served, Served]:
    hub = MemoryHub()
    store = MemoryStore()
    presence = MemoryPresence()  # shared, as Redis presence would be
    extensions = [TokenUsers()]
    first = await cluster.server(
        bus=LossyBus(hub), store=store, presence=presence, extensions=extensions, **kwargs
    )
    second = await cluster.server(
        bus=LossyBus(hub), store=store, presence=presence, extensions=extensions, **kwargs
    )
    return first, second


async def alice_and_bob(
    cluster: Cluster, s1: Served, s2: Served, rid: str
) -> tuple[EventClient, EventClient]:
    """Alice's event socket on process one and Bob's on process two, both welcomed."""
    e1 = await cluster.events(s1.events_url(rid, "token=alice"))
    e2 = await cluster.events(s2.events_url(rid, "token=bob"))
    await e1.wait_for("welcome")
    await e2.wait_for("welcome")
    return e1, e2


async def test_processes_see_each_others_edits_and_cursors(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster)
    rid = room_id()
    a = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    b = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
    a.insert(0, "跨进程")
    await b.wait_text("跨进程")
    b.insert(3, " ok")
    await a.wait_text("跨进程 ok")
    await eventually(
        lambda: a.peer_names() == {"bob"} and b.peer_names() == {"alice"}, message="cursors"
    )
    await a.close()
    await eventually(lambda: b.peer_names() == set(), timeout=1, message="alice gone on s2 at once")
    assert await s2.server.member_count(rid) == 1


async def test_kick_on_one_process_disconnects_the_member_on_the_other(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster)
    rid = room_id()
    alice = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    bob = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
    bob_events = await cluster.events(s2.events_url(rid, "token=bob"))
    await bob_events.wait_for("welcome")
    assert await s1.server.kick(rid, user_id="bob", reason="spam") == 0  # none on s1
    assert await bob.wait_closed() == close_codes.KICKED
    assert await bob_events.wait_closed() == close_codes.KICKED
    alice.insert(0, "still fine")
    await eventually(
        lambda: str(s2.server.runtime.rooms[rid].doc["prompt"]) == "still fine", message="s2 alive"
    )
    assert not alice.closed.is_set()


async def test_kick_one_connection_by_id(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster)
    rid = room_id()
    tab1 = await cluster.yclient(s1.yjs_url(rid, "token=bob"), "bob")
    tab2 = await cluster.yclient(s1.yjs_url(rid, "token=bob"), "bob")
    target = s1.server.local_connections(rid)[0].connection_id
    assert await s2.server.kick(rid, connection_id=target) == 0
    assert await tab1.wait_closed() == close_codes.KICKED
    assert not tab2.closed.is_set()


async def test_role_change_applies_on_every_process(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster)
    rid = room_id()
    alice = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    bob = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
    await s1.server.set_role(rid, "bob", "viewer")
    await eventually(
        lambda: s2.server.local_connections(rid)[0].role is Role.VIEWER, message="role"
    )
    bob.insert(0, "ignored")
    alice.insert(0, "ok")
    await eventually(lambda: "ok" in bob.text, message="bob receives")
    await eventually(
        lambda: str(s2.server.runtime.rooms[rid].doc["prompt"]) == "ok", message="s2 doc"
    )
    assert alice.text == "ok"


async def test_close_room_closes_every_socket_everywhere(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster)
    rid = room_id()
    alice = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    bob = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
    watcher = await cluster.events(s2.events_url(rid))
    await watcher.wait_for("welcome")
    assert await s1.server.close_room(rid, "deleted") == 1
    for client in (alice, bob, watcher):
        assert await client.wait_closed() == close_codes.ROOM_CLOSED


async def test_resync_after_reconnect_heals_lost_bus_messages(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster, config=dataclasses.replace(FAST, flush_interval=30))
    rid = room_id()
    a = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    b = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
    bus1, bus2 = s1.bus, s2.bus
    assert isinstance(bus1, LossyBus)
    assert isinstance(bus2, LossyBus)
    bus1.drop = bus2.drop = True  # both directions lost, nothing flushed to the store yet
    a.insert(0, "甲")
    b.insert(0, "乙")
    await eventually(lambda: bus1.dropped and bus2.dropped, message="losses")
    assert "乙" not in a.text
    assert "甲" not in b.text
    bus1.drop = bus2.drop = False
    await bus1.simulate_reconnect()  # only one side reconnects; it must heal both ways
    await eventually(lambda: a.text == b.text and len(a.text) == 2, message="healed")


async def test_a_room_loaded_late_gets_unflushed_updates_from_its_peers(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster, config=dataclasses.replace(FAST, flush_interval=30))
    rid = room_id()
    a = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    a.insert(0, "not stored yet")
    assert (await s1.store.load(rid)).is_empty
    b = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")  # s2 loads from the store
    await b.wait_text("not stored yet")


async def test_events_cross_processes_with_one_seq(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster)
    rid = room_id()
    e1, e2 = await alice_and_bob(cluster, s1, s2, rid)
    await e1.send({"type": "chat.send", "data": {"text": "from s1"}})
    await s2.server.emit_event(rid, "job.started", {"job_id": "j"})
    for client in (e1, e2):
        await client.wait_for("job.started")
        await client.wait_for("chat.message")
    seqs = {(m["type"], m["seq"]) for m in e1.messages[1:]}
    assert seqs == {(m["type"], m["seq"]) for m in e2.messages[1:]}
    assert e2.of_type("chat.message")[0]["data"]["user_id"] == "alice"


async def test_events_lost_on_the_bus_are_replayed_after_reconnect(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster)
    rid = room_id()
    e2 = await cluster.events(s2.events_url(rid))
    await e2.wait_for("welcome")
    bus1, bus2 = s1.bus, s2.bus
    assert isinstance(bus1, LossyBus)
    assert isinstance(bus2, LossyBus)
    bus1.drop = True
    await s1.server.emit_event(rid, "job.succeeded", {"job_id": "lost"})
    assert e2.of_type("job.succeeded") == []
    bus1.drop = False
    await bus2.simulate_reconnect()
    await e2.wait_for("job.succeeded")
    await bus2.simulate_reconnect()
    assert len(e2.of_type("job.succeeded")) == 1  # never twice


async def test_member_limit_spans_processes(cluster: Cluster) -> None:
    s1, s2 = await two_processes(cluster, config=dataclasses.replace(FAST, max_members=2))
    rid = room_id()
    await cluster.yclient(s1.yjs_url(rid, "token=a"), "a")
    await cluster.yclient(s2.yjs_url(rid, "token=b"), "b")
    third = await cluster.yclient(s1.yjs_url(rid, "token=c"), "c", sync=False)
    assert await third.wait_closed() == close_codes.ROOM_FULL


async def test_client_reconnecting_to_another_process_is_visible_at_once(
    cluster: Cluster,
) -> None:
    """Bob leaves process 2 and comes back on process 1 with his old clock, within the awareness
    timeout. Process 1 holds his tombstone (from the bus); it answers with the tombstone, bob's
    client re-announces at the next clock, and everyone sees him again without waiting for his
    15 s renewal."""
    s1, s2 = await two_processes(cluster, config=dataclasses.replace(FAST, awareness_timeout=30))
    rid = room_id()
    alice = await cluster.yclient(s1.yjs_url(rid, "token=alice"), "alice")
    carol = await cluster.yclient(s2.yjs_url(rid, "token=carol"), "carol")
    bob = await cluster.yclient(s2.yjs_url(rid, "token=bob"), "bob")
    await eventually(lambda: alice.peer_names() == {"bob", "carol"}, message="alice sees bob")
    await bob.close()
    await eventually(lambda: alice.peer_names() == {"carol"}, message="bob gone")
    bob.url = s1.yjs_url(rid, "token=bob")
    await bob.connect()  # same client id, same clock
    await bob.wait_synced()
    await eventually(lambda: alice.peer_names() == {"bob", "carol"}, timeout=2, message="alice")
    await eventually(lambda: carol.peer_names() == {"alice", "bob"}, timeout=2, message="carol")
    assert bob.clock == 2  # re-announced once
    room = s1.server.runtime.rooms[rid]
    assert sorted(cid for conn in room.yjs for cid in room.awareness.owned_by(conn)) == sorted(
        [alice.client_id, bob.client_id]
    )
