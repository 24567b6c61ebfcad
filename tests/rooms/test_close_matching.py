"""``RoomServer.close_matching``: sockets close by the credential keys their extension gave them,
in every room and on every process (two RoomServers on one MemoryHub)."""

from __future__ import annotations

import asyncio

import pytest

from rooms import close_codes, wire
from rooms.bus import MemoryBus, MemoryHub
from rooms.hooks import AuthenticatePayload, Extension, MessagePayload
from rooms.presence import MemoryPresence
from rooms.store import MemoryStore
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import Served, room_id


class KeyedUsers(Extension):
    """``?token=<user>:<login>``: the socket carries ``user:<user>`` and ``login:<login>``. While
    ``gate`` is set, authentication waits for it (a handshake in flight)."""

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()

    async def on_authenticate(self, payload: AuthenticatePayload) -> None:
        if not payload.token:
            return
        user, _, login = payload.token.partition(":")
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        payload.connection.authenticate(user_id=user)
        payload.connection.credentials = frozenset({f"user:{user}", f"login:{login}"})


async def two_processes(cluster: Cluster) -> tuple[Served, Served, KeyedUsers]:
    hub = MemoryHub()
    store = MemoryStore()
    presence = MemoryPresence()
    keyed = KeyedUsers()
    first = await cluster.server(
        bus=MemoryBus(hub), store=store, presence=presence, extensions=[keyed]
    )
    second = await cluster.server(
        bus=MemoryBus(hub), store=store, presence=presence, extensions=[keyed]
    )
    return first, second, keyed


async def test_a_key_closes_its_sockets_in_every_room_on_every_process(cluster: Cluster) -> None:
    s1, s2, _ = await two_processes(cluster)
    one, two = room_id(), room_id()
    ended_here = await cluster.yclient(s1.yjs_url(one, "token=ann:a1"), "ann")
    ended_there = await cluster.yclient(s2.yjs_url(two, "token=ann:a1"), "ann")
    ended_events = await cluster.events(s2.events_url(one, "token=ann:a1"))
    await ended_events.wait_for("welcome")
    other_login = await cluster.yclient(s2.yjs_url(one, "token=ann:a2"), "ann")
    other_user = await cluster.yclient(s1.yjs_url(one, "token=bob:b1"), "bob")
    guest = await cluster.yclient(s1.yjs_url(one), "guest")

    assert await s1.server.close_matching(["login:a1"], reason="signed out") == 1
    for client in (ended_here, ended_there, ended_events):
        assert await client.wait_closed(timeout=1) == close_codes.UNAUTHENTICATED
    other_user.insert(0, "still here")
    await other_login.wait_text("still here")
    await guest.wait_text("still here")
    for client in (other_login, other_user, guest):
        assert not client.closed.is_set()

    # A user key closes every login of that user, with the code asked for.
    assert await s2.server.close_matching(["user:ann"], close_codes.FORBIDDEN) == 1
    assert await other_login.wait_closed(timeout=1) == close_codes.FORBIDDEN
    assert not other_user.closed.is_set()


async def test_a_handshake_in_flight_when_its_key_ends_is_refused(cluster: Cluster) -> None:
    s1, s2, keyed = await two_processes(cluster)
    rid = room_id()
    keyed.gate = asyncio.Event()
    late = await cluster.yclient(s2.yjs_url(rid, "token=ann:a1"), "ann", sync=False)
    await asyncio.wait_for(keyed.waiting.wait(), 2)
    # The key ends while the handshake on process two is still authenticating it.
    assert await s1.server.close_matching(["login:a1"]) == 0
    await eventually(
        lambda: s2.server._credentials.ended.get("login:a1"), timeout=1, message="close seen"
    )
    keyed.gate.set()
    assert await late.wait_closed(timeout=1) == close_codes.UNAUTHENTICATED

    # A handshake that begins after the close was seen authenticates anew and is admitted
    # (a user key ends the sockets of a role, not the user).
    keyed.gate = None
    fresh = await cluster.yclient(s2.yjs_url(rid, "token=ann:a2"), "ann")
    assert await s1.server.close_matching(["user:ann"]) == 0
    assert await fresh.wait_closed(timeout=1) == close_codes.UNAUTHENTICATED
    again = await cluster.yclient(s2.yjs_url(rid, "token=ann:a3"), "ann")
    again.insert(0, "welcome back")
    await eventually(lambda: str(s2.server.runtime.rooms[rid].doc["prompt"]) == "welcome back")


async def test_bad_close_requests_and_bus_messages_are_refused(cluster: Cluster) -> None:
    s1, s2, _ = await two_processes(cluster)
    rid = room_id()
    ann = await cluster.yclient(s2.yjs_url(rid, "token=ann:a1"), "ann")
    with pytest.raises(ValueError, match="close code"):
        await s1.server.close_matching(["login:a1"], code=True)
    with pytest.raises(ValueError, match="close code"):
        await s1.server.close_matching(["login:a1"], code=999)
    with pytest.raises(ValueError, match="credential keys"):
        await s1.server.close_matching([""])
    with pytest.raises(ValueError, match="credential keys"):
        await s1.server.close_matching(["x" * 201])
    assert await s1.server.close_matching([]) == 0

    channel = s1.server.runtime.connections_channel()
    bad = [
        b"",
        wire.encode_update(b"\x00\x00"),
        wire.encode_control({"action": "kick", "keys": ["login:a1"], "code": 4401}),
        wire.encode_control({"action": "close_matching", "keys": "login:a1", "code": 4401}),
        wire.encode_control({"action": "close_matching", "keys": ["login:a1"], "code": "4401"}),
        wire.encode_control({"action": "close_matching", "keys": ["login:a1"], "code": 5000}),
        wire.encode_control({"action": "close_matching", "keys": [7], "code": 4401}),
        wire.encode_control({"action": "close_matching", "code": 4401}),
    ]
    for payload in bad:
        await s1.bus.publish(channel, payload)
    await s1.bus.publish(
        channel,
        wire.encode_control({"action": "close_matching", "keys": ["user:ann"], "code": 4403}),
    )
    # Only the one well-formed message closed anything, with its own code.
    assert await ann.wait_closed(timeout=1) == close_codes.FORBIDDEN


class HeldMessages(KeyedUsers):
    """Holds Ann's next message in ``before_handle_message`` until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release: asyncio.Event | None = None
        self.held = asyncio.Event()

    async def before_handle_message(self, payload: MessagePayload) -> None:
        if self.release is not None and payload.connection.user_id == "ann":
            self.held.set()
            await self.release.wait()


async def test_a_message_in_handling_when_its_key_ends_is_not_applied(cluster: Cluster) -> None:
    held = HeldMessages()
    store = MemoryStore()
    served = await cluster.server(store=store, extensions=[held])
    rid = room_id()
    bob = await cluster.yclient(served.yjs_url(rid, "token=bob:b1"), "bob")
    ann = await cluster.yclient(served.yjs_url(rid, "token=ann:a1"), "ann")
    chat = await cluster.events(served.events_url(rid, "token=ann:a1"))
    await chat.wait_for("welcome")

    held.release = asyncio.Event()
    ann.insert(0, "too late")
    await asyncio.wait_for(held.held.wait(), 2)
    held.held.clear()
    await chat.send({"type": "chat.send", "data": {"text": "too late"}})
    await asyncio.wait_for(held.held.wait(), 2)
    # Both messages are inside the hook when the credential ends.
    assert await served.server.close_matching(["login:a1"]) == 2
    held.release.set()
    assert await ann.wait_closed(timeout=1) == close_codes.UNAUTHENTICATED
    assert await chat.wait_closed(timeout=1) == close_codes.UNAUTHENTICATED
    bob.insert(0, "on time")
    await eventually(lambda: str(served.server.runtime.rooms[rid].doc["prompt"]) == "on time")
    events = await store.events_since(rid, 0, limit=100) or []
    assert [e for e in events if e.type == "chat.message"] == []
    assert "too late" not in bob.text
