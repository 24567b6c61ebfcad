"""Two hub processes on one Redis (and one database): edits, kicks, role changes and member lists
cross processes. Runs against the shared Redis with a unique key prefix (skips loudly without it;
fails under CI=true)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hub.collab.rooms import create_room
from hub.ratelimit import RateLimiter
from tests.helpers import eventually
from tests.hub.collab.conftest import TestUser, add_member, create_test_user
from tests.hub.collab.helpers import events_url, http, hub_ctx, joined, yjs_url
from tests.live import LiveServer
from tests.rooms.ykit import EventClient

pytestmark = pytest.mark.redis

API = "/api/v1"


async def _room(live: LiveServer, owner: TestUser, **fields: Any) -> str:
    # Through the service with a limiter of its own, not POST /rooms: the shared Redis keeps
    # rate-limit counters across runs.
    ctx = hub_ctx(live)
    async with ctx.db.unit_of_work() as session:
        from hub.accounts.users import actor_for, get_user

        user = await get_user(session, owner.user_id)
        assert user is not None
        room = await create_room(
            session,
            actor_for(user, auth="api_token"),
            limiter=RateLimiter(),
            title="cluster",
            **fields,
        )
    return room.slug


async def test_edits_kicks_and_roles_cross_processes(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    one, two = pair
    owner = await create_test_user(hub_ctx(one), "olivia", "Olivia")
    editor = await create_test_user(hub_ctx(one), "edward", "Edward")
    writer = await create_test_user(hub_ctx(one), "wendy", "Wendy")
    slug = await _room(one, owner, visibility="public")
    async with http(one) as api:
        await add_member(api, owner, slug, editor, "editor")
        await add_member(api, owner, slug, writer, "editor")
        a = await joined(yjs_url(one, slug, owner), "olivia")
        b = await joined(yjs_url(two, slug, editor), "edward")
        w = await joined(yjs_url(two, slug, writer), "wendy")
        stream = await EventClient.open(events_url(two, slug, writer))
        await stream.wait_for("welcome")

        a.insert(0, "一只猫")
        b.insert(0, "雨中的")
        await eventually(lambda: a.text == b.text == w.text and len(a.text) == 6)
        await eventually(lambda: {"edward", "wendy"} <= a.peer_names())

        # member lists and counts span both processes
        members = (await api.get(f"{API}/rooms/{slug}/members", headers=owner.headers)).json()
        assert {o["name"] for o in members["online"]} == {"Olivia", "Edward", "Wendy"}
        live = (await api.get(f"{API}/rooms", params={"scope": "live"})).json()["items"]
        assert [(r["slug"], r["online"]) for r in live] == [(slug, 3)]

        # chat sent on one process reaches the other
        alice = await EventClient.open(events_url(one, slug, owner))
        await alice.wait_for("welcome")
        await alice.send({"type": "chat.send", "data": {"text": "跨进程"}})
        assert (await stream.wait_for("chat.message"))[0]["data"]["text"] == "跨进程"

        # role change made through process one applies to a socket on process two
        demoted = await api.patch(
            f"{API}/rooms/{slug}/members/{writer.user_id}",
            json={"role": "viewer"},
            headers=owner.headers,
        )
        assert demoted.status_code == 200
        await stream.wait_for("member.role")
        w.insert(0, "dropped ")
        b.insert(len(b.text), "!")
        await eventually(lambda: a.text.endswith("!"))
        await asyncio.sleep(0.2)
        assert "dropped" not in a.text
        assert "dropped" not in b.text

        # kick through process one closes the socket on process two within a second
        started = time.monotonic()
        kicked = await api.delete(
            f"{API}/rooms/{slug}/members/{editor.user_id}", headers=owner.headers
        )
        assert kicked.status_code == 204
        assert await b.wait_closed(timeout=1.0) == 4409
        assert time.monotonic() - started < 1.0
        assert not a.closed.is_set()

        # closing the room through process two closes sockets on both
        async with http(two) as api_two:
            closed = await api_two.post(f"{API}/rooms/{slug}/close", headers=owner.headers)
            assert closed.status_code == 200
        assert await a.wait_closed(timeout=2) == 4410
        assert await w.wait_closed(timeout=2) == 4410
        for client in (a, b, w):
            await client.close()
        for events in (stream, alice):
            await events.close()
