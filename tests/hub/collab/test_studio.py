"""The solo studio through HTTP: ``/studio`` and ``POST /api/v1/me/studio`` make one private
room per person on first use and find it afterwards; nobody else sees it; the bad callers."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from hub.collab.models import RoomMember, RoomRecord
from hub.context import HubContext
from tests.helpers import BOTH_DATABASES
from tests.hub.accounts.helpers import signed_up
from tests.hub.collab.conftest import MakeUser

STUDIO = "/api/v1/me/studio"


async def _rooms_and_members(ctx: HubContext) -> tuple[int, int]:
    async with ctx.db.unit_of_work() as session:
        rooms = await session.scalar(select(func.count()).select_from(RoomRecord))
        members = await session.scalar(select(func.count()).select_from(RoomMember))
    return int(rooms or 0), int(members or 0)


@BOTH_DATABASES
async def test_the_studio_is_made_once_private_and_yours(
    client: httpx.AsyncClient, ctx: HubContext, make_user: MakeUser
) -> None:
    alice = await make_user("alice", "Alice")
    bob = await make_user("bob")
    first = await client.post(STUDIO, headers=alice.headers)
    assert first.status_code == 200, first.text
    room = first.json()
    assert room["slug"] == f"studio--{alice.user_id}"
    assert (room["visibility"], room["my_role"], room["state"]) == ("private", "owner", "open")
    assert room["title"] == "Alice's studio"
    assert room["page_url"] == f"/r/studio--{alice.user_id}"
    again = await client.post(STUDIO, headers=alice.headers)
    assert again.json()["slug"] == room["slug"]
    assert again.json()["created_at"] == room["created_at"]
    assert await _rooms_and_members(ctx) == (1, 1)
    # Another person gets their own, and cannot see Alice's.
    bobs = (await client.post(STUDIO, headers=bob.headers)).json()
    assert bobs["slug"] == f"studio--{bob.user_id}"
    hidden = await client.get(f"/api/v1/rooms/{room['slug']}", headers=bob.headers)
    assert hidden.status_code == 404
    assert await _rooms_and_members(ctx) == (2, 2)
    # Listed among Alice's rooms like any room of hers.
    mine = await client.get("/api/v1/rooms?scope=mine", headers=alice.headers)
    assert [r["slug"] for r in mine.json()["items"]] == [room["slug"]]


@BOTH_DATABASES
async def test_first_visits_at_once_make_one_studio(
    client: httpx.AsyncClient, ctx: HubContext, make_user: MakeUser
) -> None:
    alice = await make_user("alice")
    answers = await asyncio.gather(*[client.post(STUDIO, headers=alice.headers) for _ in range(4)])
    assert [a.status_code for a in answers] == [200] * 4
    assert {a.json()["slug"] for a in answers} == {f"studio--{alice.user_id}"}
    assert await _rooms_and_members(ctx) == (1, 1)


async def test_the_studio_page_opens_the_room_page(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    signed_out = await client.get("/studio")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/login?next=/studio"
    await signed_up(client, "carol")
    opened = await client.get("/studio")
    assert opened.status_code == 303
    location = opened.headers["location"]
    assert location.startswith("/r/studio--")
    page = await client.get(location)
    assert page.status_code == 200
    assert "carol" in page.text.lower()
    assert (await client.get("/studio")).headers["location"] == location
    async with ctx.db.unit_of_work() as session:
        slugs = list(await session.scalars(select(col(RoomRecord.slug))))
    assert slugs == [location.removeprefix("/r/")]


async def test_bad_callers_make_no_studio(client: httpx.AsyncClient, ctx: HubContext) -> None:
    anonymous = await client.post(STUDIO)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    await signed_up(client, "dave")
    no_token = await client.post(STUDIO)
    assert no_token.status_code == 403
    assert no_token.json()["error"]["code"] == "csrf_failed"
    assert await _rooms_and_members(ctx) == (0, 0)
