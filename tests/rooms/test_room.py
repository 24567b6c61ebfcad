"""One room through real WebSockets: sync, awareness, roles, persistence, liveness."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import pytest
from pycrdt import Doc, Map, Text

from rooms import RoomConfig, close_codes
from rooms.hooks import AuthenticatePayload, Extension
from rooms.protocol import (
    KEEPALIVE,
    AwarenessEntry,
    AwarenessMessage,
    SyncMessage,
    SyncType,
    decode_message,
    encode_awareness,
    encode_awareness_entries,
)
from rooms.room import PARAMS, insert_text, read_document
from rooms.store import MemoryStore, UpdateRecord
from rooms.types import Role
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, YClient, room_id


class TokenRoles(Extension):
    """``?token=<role>:<user>`` picks the role (what the hub's auth extension will do)."""

    async def on_authenticate(self, payload: AuthenticatePayload) -> None:
        if payload.token:
            role, _, user = payload.token.partition(":")
            payload.connection.authenticate(user_id=user, display_name=user, role=Role(role))


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def append_updates(
        self, room: str, updates: Sequence[UpdateRecord], *, writer: str, batch: int
    ) -> bool:
        self.batches.append(len(updates))
        return await super().append_updates(room, updates, writer=writer, batch=batch)


async def stored_text(store: Any, rid: str) -> str:
    doc: Doc[Any] = Doc()
    for update in (await store.load(rid)).all_updates:
        doc.apply_update(update)
    return str(doc.get("prompt", type=Text))


async def stored_is(store: Any, rid: str, expected: str) -> bool:
    return await stored_text(store, rid) == expected


async def test_two_clients_editing_concurrently_converge_with_chinese(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "小明")
    b = await cluster.yclient(s.yjs_url(rid), "小红")
    for n in range(10):  # interleaved without waiting for each other
        a.insert(len(a.text), f"猫{n}")
        b.insert(0, f"狗{n}")
    await eventually(lambda: a.text == b.text and len(a.text) == 40, message="convergence")
    room_doc = s.server.runtime.rooms[rid].doc
    assert str(room_doc.get("prompt", type=Text)) == a.text
    for n in range(10):
        assert f"猫{n}" in a.text
        assert f"狗{n}" in a.text
    await eventually(lambda: stored_is(s.store, rid, a.text), message="stored")


async def test_restart_on_the_same_store_restores_the_exact_text(cluster: Cluster) -> None:
    store = MemoryStore()
    first = await cluster.server(store=store)
    rid = room_id()
    a = await cluster.yclient(first.yjs_url(rid), "a")
    a.insert(0, "一只戴帽子的猫, oil painting 🎨")
    a.params["steps"] = 30
    await eventually(lambda: stored_is(store, rid, a.text), message="stored")
    expected = a.text
    await first.close()  # stop(): flush + compaction
    assert await store.history(rid)  # unload compacted into a snapshot

    second = await cluster.server(store=store)
    fresh = await cluster.yclient(second.yjs_url(rid), "b")
    await fresh.wait_text(expected)
    assert fresh.params.to_py() == {"steps": 30}


async def test_updates_are_stored_in_batches_within_the_flush_interval(cluster: Cluster) -> None:
    store = CountingStore()
    s = await cluster.server(store=store, config=dataclasses.replace(FAST, flush_interval=0.2))
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    for n in range(20):
        a.insert(len(a.text), str(n % 10))
    await eventually(lambda: stored_is(store, rid, a.text), timeout=2, message="stored")
    assert sum(store.batches) == 20
    assert len(store.batches) < 20  # batched, not one write per update


async def test_newcomer_gets_step1_and_everyones_awareness_at_once(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    await eventually(lambda: s.server.runtime.rooms[rid].awareness.entries(), message="awareness")
    b = await cluster.yclient(s.yjs_url(rid), "bob")
    first, second = (decode_message(frame) for frame in b.received[:2])
    assert isinstance(first, SyncMessage)
    assert first.sync_type is SyncType.STEP1
    assert isinstance(second, AwarenessMessage)
    assert b.peer_names() == {"alice"}  # before alice renews or moves
    await eventually(lambda: a.peer_names() == {"bob"}, message="alice sees bob")


async def test_leaving_socket_awareness_is_removed_at_once(cluster: Cluster) -> None:
    s = await cluster.server(config=dataclasses.replace(FAST, awareness_timeout=30))
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    b = await cluster.yclient(s.yjs_url(rid), "bob")
    await eventually(lambda: a.peer_names() == {"bob"}, message="alice sees bob")
    await b.close()  # closes the socket without announcing null itself
    await eventually(lambda: a.peer_names() == set(), timeout=1, message="bob's cursor gone")
    assert a.awareness[b.client_id][1] is None


async def test_echo_of_a_leavers_state_is_refuted_to_its_sender_only(cluster: Cluster) -> None:
    """Stock clients echo the awareness they apply; an echo of bob's last state that arrives
    after bob left must neither bring bob back nor reach anyone else."""
    s = await cluster.server(config=dataclasses.replace(FAST, awareness_timeout=30))
    rid = room_id()
    alice = await cluster.yclient(s.yjs_url(rid), "alice")
    carol = await cluster.yclient(s.yjs_url(rid), "carol")
    bob = await cluster.yclient(s.yjs_url(rid), "bob")
    await eventually(lambda: alice.peer_names() == {"bob", "carol"}, message="alice sees bob")
    bob_state = s.server.runtime.rooms[rid].awareness.entries()[-1]
    assert bob_state.client_id == bob.client_id
    await bob.close()
    await eventually(lambda: carol.peer_names() == {"alice"}, message="bob gone for carol")
    carol_frames, alice_frames = len(carol.received), len(alice.received)
    await alice.send(encode_awareness(encode_awareness_entries([bob_state])))  # the late echo
    tombstone = AwarenessEntry(bob.client_id, bob_state.clock, None)
    refutation = encode_awareness(encode_awareness_entries([tombstone]))
    await eventually(lambda: refutation in alice.received[alice_frames:], message="refuted")
    await alice.set_awareness({"user": {"name": "alice"}, "cursor": 1})  # a marker after it
    await eventually(lambda: len(carol.received) > carol_frames, message="carol gets the marker")
    assert [decode_message(f) for f in carol.received[carol_frames:]] == [
        AwarenessMessage(
            encode_awareness_entries(
                [AwarenessEntry(alice.client_id, alice.clock, alice_state_text(alice))]
            )
        )
    ]
    assert carol.peer_names() == {"alice"}
    assert [e.client_id for e in s.server.runtime.rooms[rid].awareness.entries()] == [
        alice.client_id,
        carol.client_id,
    ]


def alice_state_text(client: YClient) -> str:
    return json.dumps(client.local_state, ensure_ascii=False)


async def test_awareness_echoes_are_paid_by_echo_credit_not_the_rate_limit(
    cluster: Cluster,
) -> None:
    config = dataclasses.replace(FAST, messages_per_second=0.2, message_burst=10)
    s = await cluster.server(config=config)
    rid = room_id()
    watcher = await cluster.yclient(s.yjs_url(rid), "watcher")  # 3 tokens: step 1, 2, awareness
    movers = [await cluster.yclient(s.yjs_url(rid), f"m{n}") for n in range(2)]
    for move in range(5):  # 5 moves each: within the movers' own budgets
        for mover in movers:
            await mover.set_awareness({"user": {"name": mover.name}, "cursor": move})
    # 12 awareness frames for the watcher: both joins and ten moves.
    await eventually(lambda: len(_awareness_frames(watcher)) >= 12, message="watcher got all")
    # Echo 9 of them back, as a stock client does: more than the 7 tokens left.
    for frame in _awareness_frames(watcher)[:9]:
        await watcher.send(frame)
    await watcher.set_awareness({"user": {"name": "watcher"}, "cursor": 1})  # spends a token
    await eventually(lambda: movers[0].peers().get(watcher.client_id, {}).get("cursor") == 1)
    assert not watcher.closed.is_set()
    # Credit (3 frames left) never pays for changes: they spend tokens until none is left.
    for n in range(12):
        await watcher.set_awareness({"user": {"name": "watcher"}, "cursor": n + 2})
    assert await watcher.wait_closed() == close_codes.RATE_LIMITED
    assert all(not mover.closed.is_set() for mover in movers)


def _awareness_frames(client: YClient) -> list[bytes]:
    return [f for f in client.received if f[:1] == b"\x01" and f != KEEPALIVE]


async def test_viewer_updates_are_dropped_but_viewers_still_receive(cluster: Cluster) -> None:
    s = await cluster.server(extensions=[TokenRoles()])
    rid = room_id()
    editor = await cluster.yclient(s.yjs_url(rid, "token=editor:ed"), "ed")
    viewer = await cluster.yclient(s.yjs_url(rid, "token=viewer:vi"), "vi")
    viewer.insert(0, "vandalism")
    editor.insert(0, "猫")
    # The viewer receives; its own local copy diverges (a read-only UI would not allow the edit).
    await eventually(lambda: "猫" in viewer.text and "vandalism" in viewer.text, message="viewer")
    await eventually(lambda: stored_is(s.store, rid, "猫"), message="stored")
    await asyncio.sleep(0.1)  # give a (wrongly) accepted update time to arrive
    assert editor.text == "猫"
    assert str(s.server.runtime.rooms[rid].doc.get("prompt", type=Text)) == "猫"
    # Viewers keep their awareness (cursors of spectators are fine).
    await eventually(lambda: editor.peer_names() == {"vi"}, message="viewer awareness")


async def test_fast_reconnect_keeps_syncing_and_stays_visible(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    b = await cluster.yclient(s.yjs_url(rid), "bob")
    await eventually(lambda: b.peer_names() == {"alice"}, message="bob sees alice")
    for round_ in range(3):
        await a.close()
        a.insert(len(a.text), f"离线{round_}")  # edited while offline
        await a.connect()  # same doc and client id, within milliseconds
        await a.wait_synced()
        a.insert(0, f"在线{round_}")
        await eventually(lambda: b.text == a.text, message="bob converges")
        await eventually(lambda: b.peer_names() == {"alice"}, timeout=2, message="alice visible")
    assert "离线2" in b.text
    assert "在线2" in b.text


async def test_idle_room_gets_keepalives(cluster: Cluster) -> None:
    s = await cluster.server(config=dataclasses.replace(FAST, keepalive_interval=0.1))
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    await eventually(lambda: a.received.count(KEEPALIVE) >= 2, timeout=2, message="keepalives")


async def test_direct_edits_are_fanned_out_and_stored(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    async with s.server.direct(rid) as doc:
        insert_text(doc.get("prompt", type=Text), 0, "服务器")
        doc.get(PARAMS, type=Map)["seed"] = 7
    await a.wait_text("服务器")
    await eventually(lambda: a.params.to_py() == {"seed": 7}, message="params")
    await eventually(lambda: stored_is(s.store, rid, "服务器"), message="stored")


async def test_direct_on_an_unloaded_room_loads_it_and_persists(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    async with s.server.direct(rid) as doc:
        insert_text(doc.get("prompt", type=Text), 0, "hello")
        assert read_document(doc)["prompt"] == "hello"
    await eventually(lambda: not s.server.is_loaded(rid), message="unloaded")
    assert await stored_text(s.store, rid) == "hello"


async def test_new_rooms_get_default_params(cluster: Cluster) -> None:
    config = dataclasses.replace(FAST, default_params={"steps": 30, "model": "offline"})
    s = await cluster.server(config=config)
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    await eventually(
        lambda: a.params.to_py() == {"steps": 30, "model": "offline"}, message="params"
    )


async def test_query_awareness_is_answered(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    lonely = await cluster.yclient(s.yjs_url(rid), "bob")
    await eventually(lambda: a.peer_names() == {"bob"}, message="bob visible")
    before = len(lonely.received)
    await lonely.send(b"\x03")
    await eventually(lambda: len(lonely.received) > before, message="answer")
    answer = decode_message(lonely.received[before])
    assert isinstance(answer, AwarenessMessage)
    quiet = YClient(s.yjs_url(room_id()), send_awareness_on_open=False)  # nobody has a state
    cluster.clients.append(quiet)
    await quiet.connect()
    await quiet.wait_synced()
    before = len(quiet.received)
    await quiet.send(b"\x03")
    await eventually(lambda: len(quiet.received) > before, message="empty answer")
    assert quiet.received[before] == KEEPALIVE  # an awareness message with no entries


async def test_empty_room_unloads_after_persisting(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    a.insert(0, "bye")
    await eventually(lambda: stored_is(s.store, rid, "bye"), message="stored")
    await a.close()
    await eventually(
        lambda: not s.server.is_loaded(rid) and rid not in s.server.runtime.rooms,
        message="unloaded",
    )
    assert len(await s.store.history(rid)) == 1
    assert s.server.local_connections(rid) == []


async def test_compaction_every_n_updates(cluster: Cluster) -> None:
    s = await cluster.server(config=dataclasses.replace(FAST, compact_every=5, flush_interval=0.01))
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    for n in range(12):
        a.insert(len(a.text), str(n % 10))
        await asyncio.sleep(0.02)  # let each update be its own batch
    await eventually(lambda: _history_len(s.store, rid, 2), message="snapshots")
    await eventually(lambda: stored_is(s.store, rid, a.text), message="stored")


async def _history_len(store: Any, rid: str, at_least: int) -> bool:
    return len(await store.history(rid)) >= at_least


def test_room_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        RoomConfig(outbound_queue=0)
    with pytest.raises(ValueError, match="unload_delay"):
        RoomConfig(unload_delay=-1)
    with pytest.raises(ValueError, match="reconcile_interval"):
        RoomConfig(reconcile_interval=0)
