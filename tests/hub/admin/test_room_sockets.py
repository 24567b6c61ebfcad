"""An admin closing someone's room closes its open sockets (4410, which stock clients do not
retry) and the room refuses new ones (docs/admin.md, "Rooms")."""

from __future__ import annotations

import time

import pytest

from hub.accounts.roles import UserRole
from hub.accounts.users import get_user
from rooms import close_codes
from tests.helpers import BOTH_DATABASES
from tests.hub.collab.conftest import create_test_user
from tests.hub.collab.helpers import http, hub_ctx, yjs_url
from tests.live import LiveServer
from tests.rooms.ykit import YClient

WITHIN = 1.0


@BOTH_DATABASES
async def test_closing_any_room_closes_its_sockets(live_server: LiveServer) -> None:
    ctx = hub_ctx(live_server)
    owner = await create_test_user(ctx, "olivia")
    admin = await create_test_user(ctx, "adam")
    async with ctx.db.unit_of_work() as session:
        row = await get_user(session, admin.user_id)
        assert row is not None
        row.role = UserRole.ADMIN.value
    async with http(live_server) as api:
        made = await api.post("/api/v1/rooms", json={"title": "Quiet"}, headers=owner.headers)
        assert made.status_code == 201, made.text
        slug = made.json()["slug"]
        client = YClient(yjs_url(live_server, slug, owner), name="owner")
        await client.connect()
        await client.wait_synced()
        closed = await api.post(
            f"/api/v1/admin/rooms/{slug}/close", json={"reason": "abuse"}, headers=admin.headers
        )
        started = time.monotonic()
        assert closed.status_code == 200, closed.text
        try:
            code = await client.wait_closed(timeout=WITHIN)
        except TimeoutError:
            pytest.fail(f"the room's socket is still open {WITHIN} s after the close")
        assert code == close_codes.ROOM_CLOSED
        assert time.monotonic() - started <= WITHIN
        again = YClient(yjs_url(live_server, slug, owner), name="again")
        await again.connect()
        assert await again.wait_closed(timeout=5) == close_codes.ROOM_CLOSED
