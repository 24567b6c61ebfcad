"""The rooms component: lifespan wiring, the retention job, cross-process control messages and
the failure paths (presence down, rooms not running, hooks outside the hub's endpoint)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from websockets.exceptions import InvalidStatus

from hub.collab.component import get_rooms
from hub.collab.errors import RoomClosed, RoomFull, RoomNotFound, close_code_for
from hub.collab.extensions import HubRoomsExtension
from hub.context import HubContext
from hub.errors import Forbidden, Unauthenticated, Unavailable
from hub.settings import Settings
from rooms import close_codes
from rooms.bus import BusMessage
from rooms.hooks import AuthenticatePayload, Reject
from rooms.presence import PresenceUnavailable
from rooms.types import ConnectionContext, ConnectionKind
from tests.helpers import eventually
from tests.hub.collab.conftest import MakeUser, create_room
from tests.live import LiveServer
from tests.rooms.ykit import open_ws


@pytest.fixture
async def fast_app(settings: Settings) -> AsyncIterator[Starlette]:
    from hub.app import create_app

    tuned = settings.model_copy(update={"room_retention_interval": 0.05, "room_event_window": 3})
    application = create_app(tuned)
    async with application.router.lifespan_context(application):
        yield application


async def test_the_retention_job_trims_old_events(fast_app: Starlette) -> None:
    ctx: HubContext = fast_app.state.ctx
    rooms = get_rooms(ctx)
    for i in range(6):
        await rooms.emit("busy-room", "job.progress", {"i": i})
    await rooms.emit("busy-room", "chat.message", {"text": "kept"})

    async def trimmed() -> bool:
        return await rooms.store.events_since("busy-room", 0, limit=100) is None

    await eventually(trimmed, timeout=5, message="retention ran")
    replay = await rooms.store.events_since("busy-room", 4, limit=100)
    assert replay is not None
    assert [e.seq for e in replay] == [5, 6, 7]
    chat = await rooms.store.events_before(
        "busy-room", before=None, limit=5, types=["chat.message"]
    )
    assert [e.data["text"] for e in chat] == ["kept"]


async def test_stop_removes_the_component(settings: Settings) -> None:
    from hub.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        ctx: HubContext = application.state.ctx
        assert get_rooms(ctx).server.instance_id == ctx.bus.instance_id
    assert ctx.rooms is None
    assert ctx.sockets is None
    with pytest.raises(Unavailable):
        get_rooms(ctx)


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe", b"[]", b'{"action": "recheck"}', b'{"action": "nuke", "slug": "x"}', b"{}"],
)
async def test_malformed_control_messages_are_dropped(ctx: HubContext, payload: bytes) -> None:
    rooms = get_rooms(ctx)
    await rooms._on_control(BusMessage(rooms.control_channel, "other", payload))


async def test_a_recheck_from_another_process_drops_sockets_here(
    live_server: LiveServer, make_user_live: MakeUser
) -> None:
    from tests.hub.collab.helpers import joined, yjs_url

    owner = await make_user_live("olivia")
    outsider = await make_user_live("oscar")
    async with httpx.AsyncClient(base_url=live_server.http_url) as api:
        slug = (await create_room(api, owner, visibility="public"))["slug"]
        watcher = await joined(yjs_url(live_server, slug, outsider), "oscar")
        member = await joined(yjs_url(live_server, slug, owner), "olivia")
        # The room turns private in the database behind this process' back (another process
        # changed it); its control message arrives on the bus.
        ctx: HubContext = live_server.app.state.ctx
        from sqlalchemy import update
        from sqlmodel import col

        from hub.collab.models import RoomRecord

        async with ctx.db.unit_of_work() as session:
            await session.execute(
                update(RoomRecord).where(col(RoomRecord.slug) == slug).values(visibility="private")
            )
        rooms = get_rooms(ctx)
        message = json.dumps({"action": "recheck", "slug": slug}).encode()
        await rooms._on_control(BusMessage(rooms.control_channel, "other", message))
        assert await watcher.wait_closed(timeout=2) == close_codes.KICKED
        assert not member.closed.is_set()
        for client in (watcher, member):
            await client.close()


@pytest.fixture
def make_user_live(live_server: LiveServer) -> MakeUser:
    from tests.hub.collab.conftest import create_test_user

    async def make(username: str, display_name: str | None = None) -> Any:
        return await create_test_user(live_server.app.state.ctx, username, display_name)

    return make


async def test_presence_outage_degrades_to_no_online_list(
    client: httpx.AsyncClient, ctx: HubContext, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await make_user("olivia")
    room = await create_room(client, owner, visibility="public")

    async def down(*args: Any) -> Any:
        raise PresenceUnavailable("redis is down")

    presence = get_rooms(ctx).presence
    monkeypatch.setattr(presence, "members", down)
    monkeypatch.setattr(presence, "rooms_live", down)
    members = await client.get(f"/api/v1/rooms/{room['slug']}/members", headers=owner.headers)
    assert members.status_code == 200
    assert members.json()["online"] == []
    live = await client.get("/api/v1/rooms", params={"scope": "live"})
    assert live.status_code == 200
    assert live.json()["items"] == []


async def test_sockets_are_refused_when_rooms_are_not_running(live_server: LiveServer) -> None:
    ctx: HubContext = live_server.app.state.ctx
    component, ctx.rooms = ctx.rooms, None
    try:
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(f"{live_server.ws_url}/yjs/some-room")
        assert refused.value.response.status_code == 403
    finally:
        ctx.rooms = component


async def test_authentication_outside_the_hub_endpoint_is_refused(ctx: HubContext) -> None:
    extension = HubRoomsExtension(ctx)
    connection = ConnectionContext("c1", "room", ConnectionKind.YJS)
    with pytest.raises(Reject) as rejected:
        await extension.on_authenticate(AuthenticatePayload("room", connection, None))
    assert rejected.value.close_code == close_codes.UNAUTHENTICATED
    assert not connection.authenticated


def test_access_errors_map_to_close_codes() -> None:
    assert close_code_for(Unauthenticated()) == close_codes.UNAUTHENTICATED
    assert close_code_for(RoomNotFound()) == close_codes.NO_SUCH_ROOM
    assert close_code_for(RoomClosed()) == close_codes.ROOM_CLOSED
    assert close_code_for(RoomFull()) == close_codes.ROOM_FULL
    assert close_code_for(Forbidden()) == close_codes.FORBIDDEN


async def test_room_creation_is_rate_limited(settings: Settings) -> None:
    """One budget per user, whether the room comes from the API or the start page's form."""
    from hub.app import create_app
    from tests.hub.collab.conftest import create_test_user

    application = create_app(settings.model_copy(update={"rate_limit_room_create": "2/hour"}))
    async with application.router.lifespan_context(application):
        owner = await create_test_user(application.state.ctx, "olivia")
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await create_room(http, owner)
            form = await http.post("/rooms/new", data={"title": "x"}, headers=owner.headers)
            assert form.status_code == 303
            refused = await http.post("/rooms/new", data={"title": "x"}, headers=owner.headers)
            assert refused.status_code == 429
            third = await http.post("/api/v1/rooms", json={"title": "x"}, headers=owner.headers)
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "rate_limited"
    assert int(third.headers["retry-after"]) > 0
