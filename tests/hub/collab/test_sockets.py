"""Room sockets through a real uvicorn: y-websocket clients on pycrdt and the JSON event stream,
authenticated and authorised by the hub."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from hub.collab.component import get_rooms
from hub.settings import Settings
from tests.helpers import eventually
from tests.hub.collab.conftest import TestUser, add_member, create_room, create_test_user
from tests.hub.collab.helpers import events_url, http, hub_ctx, joined, refused, yjs_url
from tests.live import LiveServer, serve_hub
from tests.rooms.ykit import EventClient, YClient, open_ws

API = "/api/v1"


class People:
    def __init__(self, live: LiveServer) -> None:
        self.live = live

    async def make(self, *names: str) -> list[TestUser]:
        return [await create_test_user(hub_ctx(self.live), name, name.title()) for name in names]


@pytest.fixture
async def api(live_server: LiveServer) -> Any:
    async with http(live_server) as client:
        yield client


async def test_two_editors_converge_and_a_restart_restores_the_text(settings: Settings) -> None:
    async with serve_hub(settings) as live, http(live) as api:
        owner, editor = await People(live).make("olivia", "edward")
        room = await create_room(api, owner, visibility="public")
        slug = room["slug"]
        await add_member(api, owner, slug, editor, "editor")
        a = await joined(yjs_url(live, slug, owner), "olivia")
        b = await joined(yjs_url(live, slug, editor), "edward")
        # concurrent edits at the same spot, with multi-byte text on both sides
        a.insert(0, "一只猫")
        b.insert(0, "in the rain ")
        a.insert(len(a.text), "、雨中")
        await eventually(lambda: a.text == b.text and len(a.text) == 18, message="convergence")
        final = a.text
        assert set(final) >= set("一只猫in the rain、雨中")
        await eventually(lambda: "olivia" in b.peer_names() and "edward" in a.peer_names())
        await a.close()
        await b.close()

    # A new process on the same database: the document comes back from the SQL store.
    async with serve_hub(settings) as live, http(live) as api:
        c = await joined(yjs_url(live, slug, owner), "olivia")
        assert c.text == final
        doc = (await api.get(f"{API}/rooms/{slug}/document", headers=owner.headers)).json()
        assert doc["prompt"] == final
        await c.close()
        history = (await api.get(f"{API}/rooms/{slug}/history", headers=owner.headers)).json()
        assert history["items"], "unloading the room compacts it into a snapshot"
        authors = {a["username"] for item in history["items"] for a in item["authors"]}
        assert authors == {"olivia", "edward"}
        assert history["items"][0]["document"]["prompt"] == final


async def test_viewer_edits_are_dropped(live_server: LiveServer, api: httpx.AsyncClient) -> None:
    owner, viewer = await People(live_server).make("olivia", "violet")
    room = await create_room(api, owner)
    slug = room["slug"]
    await add_member(api, owner, slug, viewer, "viewer")
    editor_client = await joined(yjs_url(live_server, slug, owner), "olivia")
    viewer_client = await joined(yjs_url(live_server, slug, viewer), "violet")
    viewer_client.insert(0, "vandalism ")
    editor_client.insert(0, "kept")
    # the viewer keeps its own edit locally; the server never accepts it
    await eventually(lambda: "kept" in viewer_client.text and "vandalism" in viewer_client.text)
    await eventually(lambda: editor_client.text == "kept")
    await asyncio.sleep(0.2)  # give a wrongly accepted update the time to arrive
    assert editor_client.text == "kept"
    doc = (await api.get(f"{API}/rooms/{slug}/document", headers=owner.headers)).json()
    assert doc["prompt"] == "kept"
    for client in (editor_client, viewer_client):
        await client.close()


async def test_handshakes_that_are_refused(live_server: LiveServer, api: httpx.AsyncClient) -> None:
    owner, outsider = await People(live_server).make("olivia", "oscar")
    private = (await create_room(api, owner))["slug"]
    unlisted = (await create_room(api, owner, visibility="unlisted"))["slug"]

    with pytest.raises(InvalidStatus) as foreign:
        await open_ws(
            yjs_url(live_server, private, owner), additional_headers={"Origin": "https://evil.test"}
        )
    assert foreign.value.response.status_code == 403
    # our own origin passes
    ok = await joined(yjs_url(live_server, private, owner), "olivia")
    await ok.close()

    assert await refused(yjs_url(live_server, unlisted)) == 4401  # no token
    assert await refused(yjs_url(live_server, unlisted, token="hub_pat_forged")) == 4401
    assert await refused(yjs_url(live_server, private, outsider)) == 4404
    assert await refused(yjs_url(live_server, private)) == 4404
    assert await refused(yjs_url(live_server, "no-such-room", owner)) == 4404
    assert await refused(yjs_url(live_server, "bad%20slug!", owner)) == 4404
    events = await EventClient.open(events_url(live_server, unlisted))
    assert await events.wait_closed() == 4401

    await api.post(f"{API}/rooms/{unlisted}/close", headers=owner.headers)
    assert await refused(yjs_url(live_server, unlisted, owner)) == 4410


async def test_anonymous_visitors_watch_public_rooms_when_allowed(
    live_server: LiveServer, api: httpx.AsyncClient
) -> None:
    (owner,) = await People(live_server).make("olivia")
    slug = (await create_room(api, owner, visibility="public", allow_anonymous_view=True))["slug"]
    editor = await joined(yjs_url(live_server, slug, owner), "olivia")
    editor.insert(0, "hello")
    guest = await joined(yjs_url(live_server, slug), "guest")
    await guest.wait_text("hello")
    guest.insert(0, "spam ")
    await asyncio.sleep(0.2)
    assert editor.text == "hello"
    stream = await EventClient.open(events_url(live_server, slug))
    welcome = (await stream.wait_for("welcome"))[0]
    assert welcome["you"]["role"] == "viewer"
    assert welcome["you"]["name"] == "Guest"
    await stream.send({"type": "chat.send", "data": {"text": "hi"}})
    assert await stream.wait_closed() == 4403  # visitors may watch, not chat
    chat = (await api.get(f"{API}/rooms/{slug}/chat")).json()
    assert chat["items"] == []
    for client in (editor, guest):
        await client.close()


async def test_closing_a_room_closes_every_socket(
    live_server: LiveServer, api: httpx.AsyncClient
) -> None:
    owner, editor = await People(live_server).make("olivia", "edward")
    slug = (await create_room(api, owner))["slug"]
    await add_member(api, owner, slug, editor, "editor")
    doc_socket = await joined(yjs_url(live_server, slug, editor), "edward")
    stream = await EventClient.open(events_url(live_server, slug, owner))
    await stream.wait_for("welcome")
    response = await api.post(f"{API}/rooms/{slug}/close", headers=owner.headers)
    assert response.status_code == 200
    assert await doc_socket.wait_closed(timeout=2) == 4410
    assert await stream.wait_closed(timeout=2) == 4410
    await doc_socket.close()


async def test_kick_disconnects_and_role_changes_apply_live(
    live_server: LiveServer, api: httpx.AsyncClient
) -> None:
    owner, editor, viewer = await People(live_server).make("olivia", "edward", "violet")
    slug = (await create_room(api, owner))["slug"]
    await add_member(api, owner, slug, editor, "editor")
    await add_member(api, owner, slug, viewer, "editor")
    mine = await joined(yjs_url(live_server, slug, owner), "olivia")
    theirs = await joined(yjs_url(live_server, slug, editor), "edward")
    demoted = await joined(yjs_url(live_server, slug, viewer), "violet")
    stream = await EventClient.open(events_url(live_server, slug, owner))
    await stream.wait_for("welcome")

    members = (await api.get(f"{API}/rooms/{slug}/members", headers=owner.headers)).json()
    online = {o["name"]: o for o in members["online"]}
    assert set(online) == {"Olivia", "Edward", "Violet"}
    assert online["Edward"]["user_id"] == editor.user_id

    response = await api.patch(
        f"{API}/rooms/{slug}/members/{viewer.user_id}",
        json={"role": "viewer"},
        headers=owner.headers,
    )
    assert response.status_code == 200
    role_events = await stream.wait_for("member.role")
    assert role_events[0]["data"] == {"user_id": viewer.user_id, "role": "viewer"}
    demoted.insert(0, "no longer allowed")
    theirs.insert(0, "allowed")
    await eventually(lambda: mine.text == "allowed")
    await asyncio.sleep(0.2)
    assert mine.text == "allowed"

    kicked = await api.delete(f"{API}/rooms/{slug}/members/{editor.user_id}", headers=owner.headers)
    assert kicked.status_code == 204
    assert await theirs.wait_closed(timeout=1) == 4409
    assert not mine.closed.is_set()
    assert not demoted.closed.is_set()
    assert await refused(yjs_url(live_server, slug, editor)) == 4404  # private: gone for good
    for client in (mine, theirs, demoted):
        await client.close()
    await stream.close()


async def test_narrowing_access_drops_sockets_that_no_longer_qualify(
    live_server: LiveServer, api: httpx.AsyncClient
) -> None:
    owner, outsider = await People(live_server).make("olivia", "oscar")
    slug = (await create_room(api, owner, visibility="public", allow_anonymous_view=True))["slug"]
    member = await joined(yjs_url(live_server, slug, owner), "olivia")
    watcher = await joined(yjs_url(live_server, slug, outsider), "oscar")
    guest_stream = await EventClient.open(events_url(live_server, slug))
    await guest_stream.wait_for("welcome")

    await api.patch(f"{API}/rooms/{slug}", json={"visibility": "unlisted"}, headers=owner.headers)
    assert await guest_stream.wait_closed(timeout=2) == 4409  # no anonymous view any more
    assert not watcher.closed.is_set()  # signed-in users may still watch unlisted rooms
    await api.patch(f"{API}/rooms/{slug}", json={"visibility": "private"}, headers=owner.headers)
    assert await watcher.wait_closed(timeout=2) == 4409
    assert not member.closed.is_set()
    for client in (member, watcher):
        await client.close()


async def test_chat_is_persisted_paged_and_replayed(
    live_server: LiveServer, api: httpx.AsyncClient
) -> None:
    owner, editor = await People(live_server).make("olivia", "edward")
    slug = (await create_room(api, owner))["slug"]
    await add_member(api, owner, slug, editor, "viewer")  # viewers may chat
    alice = await EventClient.open(events_url(live_server, slug, owner))
    bob = await EventClient.open(events_url(live_server, slug, editor))
    await alice.wait_for("welcome")
    await bob.wait_for("welcome")
    await bob.send({"type": "chat.send", "data": {"text": "你好 👋"}})
    message = (await alice.wait_for("chat.message"))[0]
    assert message["data"]["text"] == "你好 👋"
    assert message["data"]["name"] == "Edward"
    last_seen = message["seq"]
    await alice.close()

    for i in range(3):  # while alice is away
        await bob.send({"type": "chat.send", "data": {"text": f"missed {i}"}})
    await bob.wait_for("chat.message", count=4)
    back = await EventClient.open(events_url(live_server, slug, owner, since=str(last_seen)))
    replayed = await back.wait_for("chat.message", count=3)
    assert [m["data"]["text"] for m in replayed] == ["missed 0", "missed 1", "missed 2"]

    page = (await api.get(f"{API}/rooms/{slug}/chat?limit=2", headers=owner.headers)).json()
    assert [m["text"] for m in page["items"]] == ["missed 2", "missed 1"]
    assert page["items"][0]["user_id"] == editor.user_id
    older = await api.get(
        f"{API}/rooms/{slug}/chat?limit=5&before={page['next_before']}", headers=owner.headers
    )
    assert [m["text"] for m in older.json()["items"]] == ["missed 0", "你好 👋"]

    for bad in ('{"type": "chat.send", "data": {"text": ""}}', "not json", '{"type": "hack"}'):
        probe = await EventClient.open(events_url(live_server, slug, owner))
        await probe.wait_for("welcome")
        await probe.send(bad)
        assert await probe.wait_closed() == 1003
    bad_since = await EventClient.open(events_url(live_server, slug, owner, since="-5"))
    assert await bad_since.wait_closed() == 1003
    assert (
        len((await api.get(f"{API}/rooms/{slug}/chat", headers=owner.headers)).json()["items"]) == 4
    )
    for client in (bob, back):
        await client.close()


async def test_a_stock_yjs_client_edits_with_a_token(
    live_server: LiveServer, api: httpx.AsyncClient
) -> None:
    from tests.interop.yclient import node_binary, run_yclient

    node_binary()
    owner, editor = await People(live_server).make("olivia", "edward")
    slug = (await create_room(api, owner))["slug"]
    await add_member(api, owner, slug, editor, "editor")
    python_client = await joined(yjs_url(live_server, slug, owner), "olivia")
    result = await run_yclient(
        f"{live_server.ws_url}/yjs",
        slug,
        token=editor.token,
        name="node-edward",
        insert="雨中的猫",
        expect_peers=["olivia"],
        timeout=15,
    )
    assert result.ok, result.stderr
    await python_client.wait_text("雨中的猫")
    denied = await run_yclient(
        f"{live_server.ws_url}/yjs", slug, token="hub_pat_forged", expect_close=4401, timeout=15
    )
    assert denied.ok
    assert 4401 in denied.close_codes
    await python_client.close()


async def test_emit_room_event_reaches_event_sockets(
    live_server: LiveServer, api: httpx.AsyncClient
) -> None:
    from hub.collab.component import emit_room_event

    (owner,) = await People(live_server).make("olivia")
    slug = (await create_room(api, owner))["slug"]
    stream = await EventClient.open(events_url(live_server, slug, owner))
    await stream.wait_for("welcome")
    ctx = hub_ctx(live_server)
    await emit_room_event(ctx, slug, "job.progress", {"job_id": 7, "progress": 0.5}, persist=False)
    event = await emit_room_event(ctx, slug, "job.done", {"job_id": 7})
    done = (await stream.wait_for("job.done"))[0]
    assert done["seq"] == event.seq
    assert done["data"] == {"job_id": 7}
    assert (await stream.wait_for("job.progress"))[0]["data"]["progress"] == 0.5
    assert get_rooms(ctx).server.is_loaded(slug)
    await stream.close()


async def test_member_events_carry_display_names(
    live_server: LiveServer, api: httpx.AsyncClient
) -> None:
    owner, editor = await People(live_server).make("olivia", "edward")
    slug = (await create_room(api, owner))["slug"]
    await add_member(api, owner, slug, editor, "editor")
    stream = await EventClient.open(events_url(live_server, slug, owner))
    await stream.wait_for("welcome")
    client = await joined(yjs_url(live_server, slug, editor), "edward")
    joined_event = (await stream.wait_for("member.joined"))[0]["data"]
    assert joined_event["name"] == "Edward"
    assert joined_event["user_id"] == str(editor.user_id)
    assert joined_event["role"] == "editor"
    await client.close()
    left = (await stream.wait_for("member.left"))[0]["data"]
    assert left["name"] == "Edward"
    await stream.close()


async def test_malformed_frames_close_only_the_sender(
    live_server: LiveServer, api: httpx.AsyncClient
) -> None:
    (owner,) = await People(live_server).make("olivia")
    slug = (await create_room(api, owner))["slug"]
    good = await joined(yjs_url(live_server, slug, owner), "olivia")
    frames: list[tuple[bytes | str, int]] = [
        (b"\x00\x07", 1002),  # unknown sync message type
        (b"\x00\x02\x09ab", 1002),  # truncated update
        ("text frame", 1003),  # text on the binary endpoint
        (b"\x00\x02\x03\xff\xff\xff", 1003),  # an update that cannot be applied
    ]
    for frame, code in frames:
        bad = YClient(yjs_url(live_server, slug, owner), name="bad")
        await bad.connect()
        await bad.wait_synced()
        assert bad.ws is not None
        await bad.ws.send(frame)
        assert await bad.wait_closed() == code, frame
        await bad.close()
    good.insert(0, "still fine")
    doc = await eventually(
        lambda: _prompt(api, slug, owner), message="room still works after bad frames"
    )
    assert doc == "still fine"
    await good.close()


async def _prompt(api: httpx.AsyncClient, slug: str, user: TestUser) -> str | None:
    response = await api.get(f"{API}/rooms/{slug}/document", headers=user.headers)
    prompt: str = response.json()["prompt"]
    return prompt or None
