"""One test per hook: it fires (with the right payload), in priority order, and Reject /
SkipFurtherHooks do what docs/hooks.md says."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import Map, Text

from rooms import close_codes
from rooms.bus import MemoryHub
from rooms.hooks import (
    HOOK_NAMES,
    AfterUnloadPayload,
    AuthenticatePayload,
    AwarenessPayload,
    ChangePayload,
    ConfigurePayload,
    ConnectPayload,
    DestroyPayload,
    DisconnectPayload,
    Extension,
    HookRunner,
    LoadDocumentPayload,
    MessagePayload,
    Reject,
    RoomEventPayload,
    SkipFurtherHooks,
    StoreDocumentPayload,
    UnloadPayload,
)
from rooms.protocol import AwarenessMessage, ClientEvent
from rooms.room import insert_text
from rooms.types import ConnectionKind, Origin
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, room_id

Action = Callable[[Any], Any] | BaseException


class Recorder(Extension):
    """Records every hook call as ``(name, hook, payload)``; ``actions`` raise or run code."""

    def __init__(
        self,
        name: str,
        calls: list[tuple[str, str, Any]],
        priority: int = 100,
        actions: dict[str, Action] | None = None,
    ) -> None:
        self.name = name
        self.calls = calls
        self.priority = priority
        self.actions = actions or {}

    async def _hit(self, hook: str, payload: Any) -> None:
        self.calls.append((self.name, hook, payload))
        action = self.actions.get(hook)
        if isinstance(action, BaseException):
            raise action
        if action is not None:
            result = action(payload)
            if asyncio.iscoroutine(result):
                await result

    async def on_configure(self, payload: ConfigurePayload) -> None:
        await self._hit("on_configure", payload)

    async def on_connect(self, payload: ConnectPayload) -> None:
        await self._hit("on_connect", payload)

    async def on_authenticate(self, payload: AuthenticatePayload) -> None:
        await self._hit("on_authenticate", payload)

    async def on_load_document(self, payload: LoadDocumentPayload) -> None:
        await self._hit("on_load_document", payload)

    async def after_load_document(self, payload: LoadDocumentPayload) -> None:
        await self._hit("after_load_document", payload)

    async def before_handle_message(self, payload: MessagePayload) -> None:
        await self._hit("before_handle_message", payload)

    async def on_change(self, payload: ChangePayload) -> None:
        await self._hit("on_change", payload)

    async def on_store_document(self, payload: StoreDocumentPayload) -> None:
        await self._hit("on_store_document", payload)

    async def after_store_document(self, payload: StoreDocumentPayload) -> None:
        await self._hit("after_store_document", payload)

    async def on_awareness_update(self, payload: AwarenessPayload) -> None:
        await self._hit("on_awareness_update", payload)

    async def on_room_event(self, payload: RoomEventPayload) -> None:
        await self._hit("on_room_event", payload)

    async def on_disconnect(self, payload: DisconnectPayload) -> None:
        await self._hit("on_disconnect", payload)

    async def before_unload_document(self, payload: UnloadPayload) -> None:
        await self._hit("before_unload_document", payload)

    async def after_unload_document(self, payload: AfterUnloadPayload) -> None:
        await self._hit("after_unload_document", payload)

    async def on_destroy(self, payload: DestroyPayload) -> None:
        await self._hit("on_destroy", payload)


def of(calls: list[tuple[str, str, Any]], hook: str) -> list[tuple[str, Any]]:
    return [(name, payload) for name, h, payload in calls if h == hook]


def test_runner_orders_by_priority_and_skips_unimplemented_hooks() -> None:
    calls: list[tuple[str, str, Any]] = []
    low, high, mid, mid2 = (
        Recorder("low", calls, 10),
        Recorder("high", calls, 200),
        Recorder("mid", calls, 100),
        Recorder("mid2", calls, 100),
    )
    runner = HookRunner([low, high, mid, mid2, Extension()])
    assert [e.priority for e in runner.extensions] == [200, 100, 100, 100, 10]
    assert all(runner.has(name) for name in HOOK_NAMES)
    assert not HookRunner([Extension()]).has("on_change")
    asyncio.run(runner.run("on_connect", None))
    assert [name for name, _ in of(calls, "on_connect")] == ["high", "mid", "mid2", "low"]


async def test_on_configure_fires_at_start_and_can_refuse_it(cluster: Cluster) -> None:
    calls: list[tuple[str, str, Any]] = []
    s = await cluster.server(extensions=[Recorder("a", calls), Recorder("b", calls, 300)])
    assert [name for name, _ in of(calls, "on_configure")] == ["b", "a"]
    payload = of(calls, "on_configure")[0][1]
    assert payload.server is s.server
    assert payload.config is s.server.config
    with pytest.raises(Reject):
        await cluster.server(extensions=[Recorder("x", [], actions={"on_configure": Reject()})])


async def test_on_connect_reject_closes_with_its_code_and_skip_stops_the_chain(
    cluster: Cluster,
) -> None:
    calls: list[tuple[str, str, Any]] = []

    def refuse_events(payload: ConnectPayload) -> None:
        if payload.connection.kind is ConnectionKind.EVENTS:
            raise Reject(close_codes.FORBIDDEN, "no events for you")
        raise SkipFurtherHooks

    s = await cluster.server(
        extensions=[
            Recorder("first", calls, 200, {"on_connect": refuse_events}),
            Recorder("never", calls, 100),
        ]
    )
    rid = room_id()
    await cluster.yclient(s.yjs_url(rid), "ok")
    events = await cluster.events(s.events_url(rid))
    assert await events.wait_closed() == close_codes.FORBIDDEN
    assert events.of_type("error")[0] == {
        "type": "error",
        "code": "rejected",
        "message": "no events for you",
    }
    assert [name for name, _ in of(calls, "on_connect")] == ["first", "first"]
    assert of(calls, "on_authenticate")[0][1].connection.kind is ConnectionKind.YJS


async def test_on_authenticate_sets_identity_or_refuses(cluster: Cluster) -> None:
    calls: list[tuple[str, str, Any]] = []

    def auth(payload: AuthenticatePayload) -> None:
        if payload.token == "good":
            payload.connection.authenticate(user_id="u1", display_name="小王", role="owner")
        elif payload.token == "bad":
            raise Reject(close_codes.UNAUTHENTICATED)

    config = dataclasses.replace(FAST, require_authentication=True)
    s = await cluster.server(
        config=config, extensions=[Recorder("auth", calls, actions={"on_authenticate": auth})]
    )
    rid = room_id()
    await cluster.yclient(s.yjs_url(rid, "token=good"), "ok")
    ctx = s.server.local_connections(rid)[0]
    assert (ctx.user_id, ctx.display_name, ctx.role.value, ctx.authenticated) == (
        "u1",
        "小王",
        "owner",
        True,
    )
    bad = await cluster.yclient(s.yjs_url(rid, "token=bad"), "bad", sync=False)
    assert await bad.wait_closed() == close_codes.UNAUTHENTICATED
    nobody = await cluster.yclient(s.yjs_url(rid), "anon", sync=False)  # nobody authenticated it
    assert await nobody.wait_closed() == close_codes.UNAUTHENTICATED
    assert [p.token for _, p in of(calls, "on_authenticate")] == ["good", "bad", None]


async def test_load_hooks_fire_once_per_load_and_may_seed_or_refuse(cluster: Cluster) -> None:
    calls: list[tuple[str, str, Any]] = []

    def seed(payload: LoadDocumentPayload) -> None:
        if payload.room_id.startswith("missing"):
            raise Reject(close_codes.NO_SUCH_ROOM)
        if payload.is_new:
            insert_text(payload.doc.get("prompt", type=Text), 0, "模板")
            payload.doc.get("params", type=Map)["steps"] = 20

    s = await cluster.server(
        extensions=[Recorder("seed", calls, actions={"on_load_document": seed})]
    )
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    await cluster.yclient(s.yjs_url(rid), "b")
    await a.wait_text("模板")
    assert len(of(calls, "on_load_document")) == 1
    assert len(of(calls, "after_load_document")) == 1
    assert of(calls, "after_load_document")[0][1].is_new is True
    # The seed is a server-side edit: stored like any other.
    await eventually(lambda: _stored(s.store, rid), message="seed stored")

    refused = await cluster.yclient(s.yjs_url("missing-room"), "x", sync=False)
    assert await refused.wait_closed() == close_codes.NO_SUCH_ROOM
    assert not s.server.is_loaded("missing-room")
    assert "missing-room" not in s.server.runtime.rooms


async def _stored(store: Any, rid: str) -> bool:
    return not (await store.load(rid)).is_empty


async def test_before_handle_message_sees_each_message_and_reject_closes_the_sender(
    cluster: Cluster,
) -> None:
    calls: list[tuple[str, str, Any]] = []

    def no_awareness(payload: MessagePayload) -> None:
        if payload.connection.user_id is None and isinstance(payload.message, AwarenessMessage):
            raise Reject(close_codes.POLICY_VIOLATION, "no cursors")

    s = await cluster.server(
        extensions=[Recorder("gate", calls, actions={"before_handle_message": no_awareness})]
    )
    rid = room_id()
    client = await cluster.yclient(s.yjs_url(rid), "a", sync=False)
    assert await client.wait_closed() == close_codes.POLICY_VIOLATION
    events = await cluster.events(s.events_url(rid))
    await events.send({"type": "ping"})
    await events.wait_for("pong")
    kinds = [type(p.message) for _, p in of(calls, "before_handle_message")]
    assert AwarenessMessage in kinds
    assert ClientEvent in kinds


async def test_on_change_reports_origin_and_a_failing_extension_does_not_break_the_room(
    cluster: Cluster,
) -> None:
    calls: list[tuple[str, str, Any]] = []
    extensions = [
        Recorder("broken", calls, 200, {"on_change": RuntimeError("boom")}),
        Recorder("after", calls, 100),
    ]
    hub = MemoryHub()
    s1 = await cluster.server(hub=hub, extensions=extensions)
    s2 = await cluster.server(hub=hub)
    rid = room_id()
    a = await cluster.yclient(s1.yjs_url(rid), "a")
    b = await cluster.yclient(s2.yjs_url(rid), "b")
    a.insert(0, "x")
    await b.wait_text("x")
    b.insert(1, "y")
    await a.wait_text("xy")
    async with s1.server.direct(rid) as doc:
        doc.get("params", type=Map)["seed"] = 1
    seen = [p for name, p in of(calls, "on_change") if name == "after"]
    assert [p.origin for p in seen] == [Origin.CONNECTION, Origin.BUS, Origin.LOCAL]
    assert seen[0].connection is not None
    assert seen[1].connection is None
    assert len([1 for name, _ in of(calls, "on_change") if name == "broken"]) == 3


async def test_store_hooks_fire_around_each_batch(cluster: Cluster) -> None:
    calls: list[tuple[str, str, Any]] = []

    class Auth(Extension):
        async def on_authenticate(self, payload: AuthenticatePayload) -> None:
            payload.connection.authenticate(user_id="writer")

    s = await cluster.server(extensions=[Recorder("r", calls), Auth()])
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    a.insert(0, "abc")
    await eventually(lambda: of(calls, "after_store_document"), message="stored")
    before = of(calls, "on_store_document")[0][1]
    after = of(calls, "after_store_document")[0][1]
    assert before == after
    assert before.authors == frozenset({"writer"})
    assert before.updates


async def test_on_awareness_update_reports_added_and_removed(cluster: Cluster) -> None:
    calls: list[tuple[str, str, Any]] = []
    s = await cluster.server(extensions=[Recorder("r", calls)])
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    await eventually(lambda: of(calls, "on_awareness_update"), message="added")
    added = of(calls, "on_awareness_update")[0][1]
    assert added.added == (a.client_id,)
    assert added.origin is Origin.CONNECTION
    await a.set_awareness({"user": {"name": "a2"}})
    await eventually(lambda: len(of(calls, "on_awareness_update")) == 2, message="updated")
    assert of(calls, "on_awareness_update")[1][1].updated == (a.client_id,)
    await a.close()
    await eventually(lambda: len(of(calls, "on_awareness_update")) == 3, message="removed")
    removed = of(calls, "on_awareness_update")[2][1]
    assert removed.removed == (a.client_id,)
    assert removed.origin is Origin.LOCAL


async def test_on_room_event_can_refuse_events(cluster: Cluster) -> None:
    calls: list[tuple[str, str, Any]] = []

    def moderate(payload: RoomEventPayload) -> None:
        if "spam" in str(payload.data.get("text", "")):
            raise Reject(close_codes.POLICY_VIOLATION, "spam")
        if payload.type == "member.joined":
            raise Reject()  # suppress member events entirely

    s = await cluster.server(
        extensions=[Recorder("mod", calls, actions={"on_room_event": moderate})]
    )
    rid = room_id()
    watcher = await cluster.events(s.events_url(rid))
    await cluster.yclient(s.yjs_url(rid), "a")
    spammer = await cluster.events(s.events_url(rid))
    await spammer.send({"type": "chat.send", "data": {"text": "buy spam"}})
    assert await spammer.wait_closed() == close_codes.POLICY_VIOLATION
    assert spammer.of_type("error")[-1]["message"] == "spam"
    with pytest.raises(Reject):
        await s.server.emit_event(rid, "chat.message", {"text": "spam from server"})
    await s.server.emit_event(rid, "chat.message", {"text": "fine"})
    await watcher.wait_for("chat.message")
    assert [m["data"]["text"] for m in watcher.of_type("chat.message")] == ["fine"]
    assert watcher.of_type("member.joined") == []
    chat = [p for _, p in of(calls, "on_room_event") if p.type == "chat.message"]
    assert chat[0].connection is not None
    assert chat[1].connection is None


async def test_disconnect_and_unload_hooks(cluster: Cluster) -> None:
    calls: list[tuple[str, str, Any]] = []
    s = await cluster.server(extensions=[Recorder("r", calls)])
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "a")
    await a.close()
    await eventually(lambda: of(calls, "after_unload_document"), message="unloaded")
    disconnect = of(calls, "on_disconnect")[0][1]
    assert disconnect.close_code == close_codes.NORMAL
    assert disconnect.connection.kind is ConnectionKind.YJS
    hooks = [hook for _, hook, _ in calls]
    assert (
        hooks.index("on_disconnect")
        < hooks.index("before_unload_document")
        < hooks.index("after_unload_document")
    )
    assert of(calls, "before_unload_document")[0][1].room_id == rid


async def test_on_destroy_fires_on_stop(cluster: Cluster) -> None:
    calls: list[tuple[str, str, Any]] = []
    s = await cluster.server(
        extensions=[Recorder("r", calls, actions={"on_destroy": SkipFurtherHooks()})]
    )
    await s.server.stop()
    assert [payload.server for _, payload in of(calls, "on_destroy")] == [s.server]
    await s.server.stop()  # idempotent
    assert len(of(calls, "on_destroy")) == 1
