"""The JSON event stream: welcome, chat, ping, member events, server events, replay, resync."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime
from typing import Any

import pytest

from rooms.store import MemoryStore
from rooms.types import Event
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, room_id


def chats(messages: list[dict[str, Any]]) -> list[str]:
    return [m["data"]["text"] for m in messages if m["type"] == "chat.message"]


async def test_welcome_chat_and_ping(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    alice = await cluster.events(s.events_url(rid))
    bob = await cluster.events(s.events_url(rid))
    welcome = (await alice.wait_for("welcome"))[0]
    assert welcome["room"] == rid
    assert welcome["seq"] == 0
    assert welcome["members"] == []
    assert welcome["you"]["connection_id"] == welcome["connection_id"]
    await bob.wait_for("welcome")

    await alice.send({"type": "chat.send", "data": {"text": "大家好"}})
    message = (await bob.wait_for("chat.message"))[0]
    assert message["type"] == "chat.message"
    assert message["room"] == rid
    assert message["seq"] == 1
    assert message["data"]["text"] == "大家好"
    assert message["data"]["connection_id"] == welcome["connection_id"]
    assert datetime.fromisoformat(message["ts"]).tzinfo is not None
    assert chats(await alice.wait_for("chat.message")) == ["大家好"]  # the sender gets it too

    await alice.send({"type": "ping"})
    await alice.wait_for("pong")
    assert bob.of_type("pong") == []


async def test_idle_event_socket_gets_unsolicited_pongs(cluster: Cluster) -> None:
    """Browsers cannot see WebSocket pings and proxies cut idle sockets: the server sends a
    ``pong`` heartbeat on an event socket it has sent nothing for ``keepalive_interval``."""
    s = await cluster.server(config=dataclasses.replace(FAST, keepalive_interval=0.2))
    rid = room_id()
    idle = await cluster.events(s.events_url(rid))
    await idle.wait_for("welcome")
    started = time.monotonic()
    await idle.wait_for("pong", count=3, timeout=3)
    assert time.monotonic() - started >= 0.4  # not a flood: one per quiet interval at most
    assert [m["type"] for m in idle.messages[:1]] == ["welcome"]
    assert {m["type"] for m in idle.messages[1:]} == {"pong"}  # never asked for


async def test_member_events_follow_yjs_sockets(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    watcher = await cluster.events(s.events_url(rid))
    await watcher.wait_for("welcome")
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    joined = (await watcher.wait_for("member.joined"))[0]
    assert joined["data"]["count"] == 1
    assert joined["data"]["role"] == "editor"
    assert await s.server.member_count(rid) == 1
    assert [m["connection_id"] for m in await s.server.members(rid)] == [
        joined["data"]["connection_id"]
    ]
    late = await cluster.events(s.events_url(rid))
    assert len((await late.wait_for("welcome"))[0]["members"]) == 1
    await a.close()
    left = (await watcher.wait_for("member.left"))[0]
    assert left["data"]["count"] == 0
    assert left["seq"] > joined["seq"]
    assert await s.server.member_count(rid) == 0


async def test_server_events_reach_every_socket_and_only_persisted_ones_replay(
    cluster: Cluster,
) -> None:
    s = await cluster.server()
    rid = room_id()
    watcher = await cluster.events(s.events_url(rid))
    await watcher.wait_for("welcome")
    started = await s.server.emit_event(rid, "job.started", {"job_id": "j1"})
    progress = await s.server.emit_event(rid, "job.progress", {"step": 1}, persist=False)
    done = await s.server.emit_event(rid, "job.succeeded", {"job_id": "j1", "images": ["a.png"]})
    assert (started.seq, progress.seq, done.seq) == (1, 2, 3)
    await watcher.wait_for("job.succeeded")
    assert [m["type"] for m in watcher.messages[1:]] == [
        "job.started",
        "job.progress",
        "job.succeeded",
    ]

    replay = await cluster.events(s.events_url(rid, "since=0"))
    await replay.wait_for("job.succeeded")
    assert [m["seq"] for m in replay.messages[1:]] == [1, 3]  # the progress tick is not replayed


async def test_reconnect_with_since_replays_what_was_missed(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    talker = await cluster.events(s.events_url(rid))
    first = await cluster.events(s.events_url(rid))
    await first.wait_for("welcome")
    await talker.send({"type": "chat.send", "data": {"text": "one"}})
    last_seen = (await first.wait_for("chat.message"))[-1]["seq"]
    await first.close()
    for text in ["two", "三"]:
        await talker.send({"type": "chat.send", "data": {"text": text}})
    await talker.wait_for("chat.message", 3)

    again = await cluster.events(s.events_url(rid, f"since={last_seen}"))
    await again.wait_for("chat.message", 2)
    await talker.send({"type": "chat.send", "data": {"text": "live"}})
    await again.wait_for("chat.message", 3)
    assert chats(again.messages) == ["two", "三", "live"]
    assert again.messages[0]["type"] == "welcome"


@pytest.mark.parametrize("since", ["1", "999"], ids=["trimmed", "from the future"])
async def test_a_gap_that_cannot_be_replayed_gets_resync(cluster: Cluster, since: str) -> None:
    s = await cluster.server(store=MemoryStore(event_window=2))
    rid = room_id()
    for n in range(5):
        await s.server.emit_event(rid, "chat.message", {"text": str(n)})
    client = await cluster.events(s.events_url(rid, f"since={since}"))
    resync = (await client.wait_for("resync"))[0]
    assert resync["seq"] == 5
    assert client.of_type("chat.message") == []


class GatedStore(MemoryStore):
    """``events_since`` waits for the test, so live events arrive during the replay."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def events_since(self, room: str, seq: int, *, limit: int) -> list[Event] | None:
        self.waiting.set()
        await self.gate.wait()
        return await super().events_since(room, seq, limit=limit)


async def test_live_events_during_replay_are_delivered_once_in_order(cluster: Cluster) -> None:
    store = GatedStore()
    s = await cluster.server(store=store)
    rid = room_id()
    await s.server.emit_event(rid, "chat.message", {"text": "old"})
    client = await cluster.events(s.events_url(rid, "since=0"))
    await asyncio.wait_for(store.waiting.wait(), 5)
    await s.server.emit_event(rid, "chat.message", {"text": "during"})
    store.gate.set()
    await client.wait_for("chat.message", 2)
    await s.server.emit_event(rid, "chat.message", {"text": "after"})
    await client.wait_for("chat.message", 3)
    assert chats(client.messages) == ["old", "during", "after"]


async def test_emit_event_validates_its_input(cluster: Cluster) -> None:
    s = await cluster.server()
    with pytest.raises(ValueError, match="room id"):
        await s.server.emit_event("../etc", "x", {})
    with pytest.raises(ValueError, match="event type"):
        await s.server.emit_event("room", "", {})
    with pytest.raises(ValueError, match="JSON"):
        await s.server.emit_event("room", "x", {"when": datetime.now()})  # noqa: DTZ005
    assert await s.store.last_seq("room") == 0


async def test_events_for_a_room_without_local_sockets_are_still_stored(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    event = await s.server.emit_event(rid, "system.notice", {"text": "maintenance"})
    assert not s.server.is_loaded(rid)
    client = await cluster.events(s.events_url(rid, "since=0"))
    notice = (await client.wait_for("system.notice"))[0]
    assert notice["seq"] == event.seq
    assert notice["data"] == {"text": "maintenance"}
    await eventually(lambda: s.server.is_loaded(rid), message="loaded for the socket")
