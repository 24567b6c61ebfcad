"""The rooms API through HTTP: every route, every role, every bad input; DB state checked after."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from hub.collab.component import emit_room_event, get_rooms
from hub.collab.models import RoomInvite, RoomMember, RoomRecord
from hub.context import HubContext
from hub.db import utcnow
from tests.helpers import BOTH_DATABASES
from tests.hub.collab.conftest import MakeUser, TestUser, add_member, create_room

API = "/api/v1"


@dataclass
class World:
    owner: TestUser
    editor: TestUser
    viewer: TestUser
    outsider: TestUser


@pytest.fixture
async def world(make_user: MakeUser) -> World:
    return World(
        await make_user("olivia", "Owner 主人"),
        await make_user("edward"),
        await make_user("violet"),
        await make_user("oscar"),
    )


async def _room_with_members(client: httpx.AsyncClient, w: World, **fields: Any) -> dict[str, Any]:
    room = await create_room(client, w.owner, **fields)
    await add_member(client, w.owner, room["slug"], w.editor, "editor")
    await add_member(client, w.owner, room["slug"], w.viewer, "viewer")
    return room


async def _db_room(ctx: HubContext, slug: str) -> RoomRecord:
    async with ctx.db.unit_of_work() as session:
        room = await session.scalar(select(RoomRecord).where(col(RoomRecord.slug) == slug))
        assert room is not None
        return room


async def _members(ctx: HubContext, slug: str) -> dict[int, str]:
    async with ctx.db.unit_of_work() as session:
        rows = await session.execute(
            select(col(RoomMember.user_id), col(RoomMember.role))
            .join(RoomRecord, col(RoomRecord.room_id) == col(RoomMember.room_id))
            .where(col(RoomRecord.slug) == slug)
        )
        return dict(rows.all())


async def _count_rooms(ctx: HubContext) -> int:
    async with ctx.db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(RoomRecord)) or 0)


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


# --- create ---------------------------------------------------------------------------------------


@BOTH_DATABASES
async def test_create_room_makes_the_creator_owner(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await create_room(
        client,
        world.owner,
        title="A cat in the rain!",
        description="多行\n描述",
        visibility="public",
    )
    assert room["slug"].startswith("a-cat-in-the-rain-")
    assert room["my_role"] == "owner"
    assert room["owner"]["display_name"] == "Owner 主人"
    assert room["state"] == "open"
    assert room["payer"] == "member"
    assert room["page_url"] == f"/r/{room['slug']}"
    assert room["yjs_path"] == f"/yjs/{room['slug']}"
    assert await _members(ctx, room["slug"]) == {world.owner.user_id: "owner"}
    stored = await _db_room(ctx, room["slug"])
    assert stored.owner_id == world.owner.user_id
    assert stored.description == "多行\n描述"


async def test_create_room_with_a_chinese_title_gets_a_safe_slug(
    client: httpx.AsyncClient, world: World
) -> None:
    first = await create_room(client, world.owner, title="一只猫")
    second = await create_room(client, world.owner, title="一只猫")
    assert first["slug"].startswith("room-")
    assert first["title"] == "一只猫"
    assert first["slug"] != second["slug"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("not json", 400, "invalid_json"),
        ("[1, 2]", 400, "invalid_json"),
        ("{}", 422, "validation_error"),
        ('{"title": "   "}', 422, "validation_error"),
        ('{"title": "' + "x" * 121 + '"}', 422, "validation_error"),
        ('{"title": "a\\u0000b"}', 422, "validation_error"),
        ('{"title": 5}', 422, "validation_error"),
        ('{"title": "ok", "visibility": "secret"}', 422, "validation_error"),
        ('{"title": "ok", "payer": "nobody"}', 422, "validation_error"),
        ('{"title": "ok", "max_members": 0}', 422, "validation_error"),
        ('{"title": "ok", "owner_id": 1}', 422, "validation_error"),
        ('{"title": "ok", "description": "' + "d" * 2001 + '"}', 422, "validation_error"),
    ],
)
async def test_create_room_rejects_bad_bodies(
    client: httpx.AsyncClient, ctx: HubContext, world: World, body: str, status: int, code: str
) -> None:
    headers = {**world.owner.headers, "content-type": "application/json"}
    response = await client.post(f"{API}/rooms", content=body, headers=headers)
    _error(response, status, code)
    assert await _count_rooms(ctx) == 0


async def test_create_room_needs_json_and_a_user(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    form = await client.post(f"{API}/rooms", data={"title": "x"}, headers=world.owner.headers)
    _error(form, 415, "unsupported_media_type")
    anonymous = await client.post(f"{API}/rooms", json={"title": "x"})
    _error(anonymous, 401, "unauthenticated")
    forged = await client.post(
        f"{API}/rooms", json={"title": "x"}, headers={"authorization": "Bearer hub_pat_nope"}
    )
    assert forged.status_code == 401
    assert await _count_rooms(ctx) == 0


async def test_oversized_body_is_refused(client: httpx.AsyncClient, world: World) -> None:
    big = {"title": "x", "description": "d" * 2_000_000}
    response = await client.post(f"{API}/rooms", json=big, headers=world.owner.headers)
    _error(response, 413, "payload_too_large")


# --- read: the permission matrix -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("visibility", "anonymous_view", "expected"),
    [
        (
            "private",
            False,
            {"owner": 200, "editor": 200, "viewer": 200, "outsider": 404, None: 404},
        ),
        (
            "unlisted",
            False,
            {"owner": 200, "editor": 200, "viewer": 200, "outsider": 200, None: 401},
        ),
        ("public", False, {"owner": 200, "editor": 200, "viewer": 200, "outsider": 200, None: 401}),
        ("public", True, {"owner": 200, "editor": 200, "viewer": 200, "outsider": 200, None: 200}),
    ],
)
async def test_who_can_read_a_room(
    client: httpx.AsyncClient,
    world: World,
    visibility: str,
    anonymous_view: bool,
    expected: dict[str | None, int],
) -> None:
    room = await _room_with_members(
        client, world, visibility=visibility, allow_anonymous_view=anonymous_view
    )
    slug = room["slug"]
    roles = {"owner": "owner", "editor": "editor", "viewer": "viewer", "outsider": "viewer"}
    for who, status in expected.items():
        headers = getattr(world, who).headers if who else {}
        for path in ("", "/members", "/chat", "/document", "/history"):
            response = await client.get(f"{API}/rooms/{slug}{path}", headers=headers)
            assert response.status_code == status, (who, path, response.text)
        if status == 200 and who:
            body = (await client.get(f"{API}/rooms/{slug}", headers=headers)).json()
            assert body["my_role"] == roles[who]


async def test_unknown_rooms_are_404_for_everyone(client: httpx.AsyncClient, world: World) -> None:
    for headers in (world.owner.headers, {}):
        for path in ("", "/members", "/chat", "/document", "/history"):
            response = await client.get(f"{API}/rooms/no-such-room{path}", headers=headers)
            _error(response, 404, "not_found")
    long_slug = "x" * 300
    _error(
        await client.get(f"{API}/rooms/{long_slug}", headers=world.owner.headers), 404, "not_found"
    )


async def test_anonymous_view_only_counts_on_public_rooms(
    client: httpx.AsyncClient, world: World
) -> None:
    room = await create_room(client, world.owner, visibility="unlisted", allow_anonymous_view=True)
    _error(await client.get(f"{API}/rooms/{room['slug']}"), 401, "unauthenticated")


# --- change ---------------------------------------------------------------------------------------


async def test_owner_changes_a_room(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await create_room(client, world.owner, visibility="public", allow_anonymous_view=True)
    slug = room["slug"]
    response = await client.patch(
        f"{API}/rooms/{slug}",
        json={"title": "新标题", "payer": "owner", "max_members": 5, "visibility": "unlisted"},
        headers=world.owner.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["payer"], body["max_members"]) == ("新标题", "owner", 5)
    assert body["visibility"] == "unlisted"
    assert body["allow_anonymous_view"] is False  # only meaningful on public rooms
    assert body["updated_at"] > room["updated_at"]
    cleared = await client.patch(
        f"{API}/rooms/{slug}", json={"max_members": None}, headers=world.owner.headers
    )
    assert cleared.json()["max_members"] is None
    stored = await _db_room(ctx, slug)
    assert (stored.title, stored.max_members, stored.payer) == ("新标题", None, "owner")


async def test_only_the_owner_changes_a_room(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await _room_with_members(client, world, visibility="public")
    slug = room["slug"]
    for who in (world.editor, world.viewer, world.outsider):
        for method, path in (
            ("PATCH", ""),
            ("DELETE", ""),
            ("POST", "/close"),
            ("POST", "/transfer"),
            ("POST", "/invites"),
            ("GET", "/invites"),
        ):
            body = {"user_id": who.user_id} if path == "/transfer" else {"title": "x"}
            if path == "/invites":
                body = {"role": "editor"}
            response = await client.request(
                method, f"{API}/rooms/{slug}{path}", json=body, headers=who.headers
            )
            _error(response, 403, "forbidden")
    for method, path in (
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/close"),
        ("POST", "/transfer"),
        ("POST", "/invites"),
        ("GET", "/invites"),
        ("PATCH", f"/members/{world.editor.user_id}"),
        ("DELETE", f"/members/{world.editor.user_id}"),
        ("DELETE", "/invites/1"),
    ):
        response = await client.request(
            method, f"{API}/rooms/{slug}{path}", json={"role": "viewer"}
        )
        _error(response, 401, "unauthenticated")
    stored = await _db_room(ctx, slug)
    assert (stored.title, stored.state, stored.owner_id) == ("A room", "open", world.owner.user_id)


async def test_non_members_cannot_learn_about_private_rooms_by_changing_them(
    client: httpx.AsyncClient, world: World
) -> None:
    room = await create_room(client, world.owner)
    response = await client.patch(
        f"{API}/rooms/{room['slug']}", json={"title": "x"}, headers=world.outsider.headers
    )
    _error(response, 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"visibility": None},
        {"title": ""},
        {"slug": "mine"},
        {"state": "open"},
        {"allow_anonymous_view": "maybe"},
        {"max_members": 100_000},
    ],
)
async def test_patch_rejects_bad_changes(
    client: httpx.AsyncClient, ctx: HubContext, world: World, body: dict[str, Any]
) -> None:
    room = await create_room(client, world.owner)
    response = await client.patch(
        f"{API}/rooms/{room['slug']}", json=body, headers=world.owner.headers
    )
    _error(response, 422, "validation_error")
    stored = await _db_room(ctx, room["slug"])
    assert (stored.title, stored.visibility, stored.max_members) == ("A room", "private", None)


async def test_delete_archives_the_room(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await _room_with_members(client, world, visibility="public")
    slug = room["slug"]
    response = await client.delete(f"{API}/rooms/{slug}", headers=world.owner.headers)
    assert response.status_code == 204
    assert (await _db_room(ctx, slug)).state == "archived"
    _error(await client.get(f"{API}/rooms/{slug}", headers=world.editor.headers), 404, "not_found")
    own = await client.get(f"{API}/rooms/{slug}", headers=world.owner.headers)
    assert own.json()["state"] == "archived"
    listed = await client.get(f"{API}/rooms", params={"scope": "public"})
    assert slug not in [r["slug"] for r in listed.json()["items"]]
    again = await client.delete(f"{API}/rooms/{slug}", headers=world.owner.headers)
    assert again.status_code == 204  # idempotent


async def test_close_room_keeps_it_readable_but_shut(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await _room_with_members(client, world)
    slug = room["slug"]
    response = await client.post(f"{API}/rooms/{slug}/close", headers=world.owner.headers)
    assert response.status_code == 200
    assert response.json()["state"] == "closed"
    assert response.json()["closed_at"]
    assert (await _db_room(ctx, slug)).state == "closed"
    assert (
        await client.get(f"{API}/rooms/{slug}", headers=world.viewer.headers)
    ).status_code == 200
    invite = await client.post(
        f"{API}/rooms/{slug}/invites", json={"role": "viewer"}, headers=world.owner.headers
    )
    _error(invite, 409, "room_closed")
    again = await client.post(f"{API}/rooms/{slug}/close", headers=world.owner.headers)
    assert again.status_code == 200
    assert again.json()["closed_at"] == response.json()["closed_at"]


async def test_transfer_hands_the_room_to_a_member(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await _room_with_members(client, world)
    slug = room["slug"]
    _error(
        await client.post(
            f"{API}/rooms/{slug}/transfer",
            json={"user_id": world.outsider.user_id},
            headers=world.owner.headers,
        ),
        409,
        "conflict",
    )
    _error(
        await client.post(
            f"{API}/rooms/{slug}/transfer",
            json={"user_id": world.owner.user_id},
            headers=world.owner.headers,
        ),
        409,
        "conflict",
    )
    for bad in ({"user_id": "x"}, {}, {"user_id": 0}):
        response = await client.post(
            f"{API}/rooms/{slug}/transfer", json=bad, headers=world.owner.headers
        )
        _error(response, 422, "validation_error")
    assert (await _db_room(ctx, slug)).owner_id == world.owner.user_id

    response = await client.post(
        f"{API}/rooms/{slug}/transfer",
        json={"user_id": world.viewer.user_id},
        headers=world.owner.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["owner"]["user_id"] == world.viewer.user_id
    assert response.json()["my_role"] == "editor"
    assert (await _db_room(ctx, slug)).owner_id == world.viewer.user_id
    assert await _members(ctx, slug) == {
        world.owner.user_id: "editor",
        world.editor.user_id: "editor",
        world.viewer.user_id: "owner",
    }
    # the old owner lost the owner's rights
    _error(
        await client.post(f"{API}/rooms/{slug}/close", headers=world.owner.headers),
        403,
        "forbidden",
    )


# --- listing --------------------------------------------------------------------------------------


async def test_public_listing_pages_through_open_public_rooms(
    client: httpx.AsyncClient, world: World
) -> None:
    public = [
        (await create_room(client, world.owner, title=f"p{i}", visibility="public"))["slug"]
        for i in range(5)
    ]
    await create_room(client, world.owner, title="hidden", visibility="unlisted")
    await create_room(client, world.owner, title="secret")
    closed = await create_room(client, world.owner, title="closed", visibility="public")
    await client.post(f"{API}/rooms/{closed['slug']}/close", headers=world.owner.headers)

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"scope": "public", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"{API}/rooms", params=params)).json()
        seen += [r["slug"] for r in page["items"]]
        assert all(r["my_role"] is None for r in page["items"])  # anonymous
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(public))  # newest first, no duplicates, nothing hidden

    mine = (
        await client.get(f"{API}/rooms", params={"scope": "mine"}, headers=world.owner.headers)
    ).json()
    assert len(mine["items"]) == 8
    assert {r["my_role"] for r in mine["items"]} == {"owner"}
    other = await client.get(
        f"{API}/rooms", params={"scope": "mine"}, headers=world.outsider.headers
    )
    assert other.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"scope": "everything"}, 422, "validation_error"),
        ({"limit": 0}, 422, "validation_error"),
        ({"limit": 101}, 422, "validation_error"),
        ({"limit": "many"}, 422, "validation_error"),
        ({"cursor": "%%%"}, 400, "bad_request"),
        ({"cursor": "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwieCJd"}, 400, "bad_request"),
        ({"unknown": "1"}, 422, "validation_error"),
    ],
)
async def test_listing_rejects_bad_queries(
    client: httpx.AsyncClient, params: dict[str, Any], status: int, code: str
) -> None:
    _error(await client.get(f"{API}/rooms", params=params), status, code)


async def test_my_rooms_need_a_user(client: httpx.AsyncClient) -> None:
    _error(await client.get(f"{API}/rooms", params={"scope": "mine"}), 401, "unauthenticated")


async def test_live_listing_shows_rooms_with_people_in_them(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    busy = await create_room(client, world.owner, title="busy", visibility="public")
    await create_room(client, world.owner, title="quiet", visibility="public")
    secret = await create_room(client, world.owner, title="secret")
    presence = get_rooms(ctx).presence
    for slug, n in ((busy["slug"], 2), (secret["slug"], 1), ("not-a-room", 1)):
        for i in range(n):
            await presence.join(slug, f"c{i}", {"user_id": None, "name": "x", "role": "viewer"}, 30)

    anonymous = (await client.get(f"{API}/rooms", params={"scope": "live"})).json()["items"]
    assert [(r["slug"], r["online"]) for r in anonymous] == [(busy["slug"], 2)]
    owner = await client.get(f"{API}/rooms", params={"scope": "live"}, headers=world.owner.headers)
    assert {r["slug"]: r["online"] for r in owner.json()["items"]} == {
        busy["slug"]: 2,
        secret["slug"]: 1,
    }


# --- members --------------------------------------------------------------------------------------


async def test_members_list_roles_and_who_is_online(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await _room_with_members(client, world, visibility="public")
    slug = room["slug"]
    presence = get_rooms(ctx).presence
    info = {"user_id": str(world.editor.user_id), "name": "editor", "role": "editor"}
    await presence.join(slug, "tab-1", {**info, "connection_id": "tab-1"}, 30)
    await presence.join(slug, "tab-2", {**info, "connection_id": "tab-2"}, 30)
    guest = {"user_id": None, "name": "Guest", "role": "viewer", "connection_id": "g"}
    await presence.join(slug, "g", guest, 30)

    page = (await client.get(f"{API}/rooms/{slug}/members", headers=world.outsider.headers)).json()
    assert [(m["username"], m["role"], m["online"]) for m in page["items"]] == [
        ("olivia", "owner", False),
        ("edward", "editor", True),
        ("violet", "viewer", False),
    ]
    online = sorted(page["online"], key=lambda o: o["name"])
    assert online == [
        {"user_id": None, "name": "Guest", "role": "viewer", "connections": 1},
        {"user_id": world.editor.user_id, "name": "editor", "role": "editor", "connections": 2},
    ]
    first = (
        await client.get(
            f"{API}/rooms/{slug}/members", params={"limit": 2}, headers=world.owner.headers
        )
    ).json()
    rest = (
        await client.get(
            f"{API}/rooms/{slug}/members",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=world.owner.headers,
        )
    ).json()
    assert [m["username"] for m in first["items"] + rest["items"]] == ["olivia", "edward", "violet"]
    assert rest["next_cursor"] is None


async def test_owner_changes_member_roles(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await _room_with_members(client, world)
    slug = room["slug"]
    url = f"{API}/rooms/{slug}/members/{world.editor.user_id}"
    response = await client.patch(url, json={"role": "viewer"}, headers=world.owner.headers)
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "viewer"
    assert response.json()["username"] == "edward"
    assert (await _members(ctx, slug))[world.editor.user_id] == "viewer"

    _error(
        await client.patch(url, json={"role": "editor"}, headers=world.viewer.headers),
        403,
        "forbidden",
    )
    _error(
        await client.patch(url, json={"role": "owner"}, headers=world.owner.headers),
        422,
        "validation_error",
    )
    _error(await client.patch(url, json={}, headers=world.owner.headers), 422, "validation_error")
    own = f"{API}/rooms/{slug}/members/{world.owner.user_id}"
    _error(
        await client.patch(own, json={"role": "viewer"}, headers=world.owner.headers),
        409,
        "conflict",
    )
    stranger = f"{API}/rooms/{slug}/members/{world.outsider.user_id}"
    _error(
        await client.patch(stranger, json={"role": "viewer"}, headers=world.owner.headers),
        409,
        "conflict",
    )
    for bad in ("abc", "0", "-1", "99999999999999999999", "1.5"):
        response = await client.patch(
            f"{API}/rooms/{slug}/members/{bad}",
            json={"role": "viewer"},
            headers=world.owner.headers,
        )
        _error(response, 404, "not_found")
    assert await _members(ctx, slug) == {
        world.owner.user_id: "owner",
        world.editor.user_id: "viewer",
        world.viewer.user_id: "viewer",
    }


async def test_kick_and_leave(client: httpx.AsyncClient, ctx: HubContext, world: World) -> None:
    room = await _room_with_members(client, world)
    slug = room["slug"]
    members = f"{API}/rooms/{slug}/members"
    _error(
        await client.delete(f"{members}/{world.viewer.user_id}", headers=world.editor.headers),
        403,
        "forbidden",
    )
    kicked = await client.delete(f"{members}/{world.editor.user_id}", headers=world.owner.headers)
    assert kicked.status_code == 204
    left = await client.delete(f"{members}/{world.viewer.user_id}", headers=world.viewer.headers)
    assert left.status_code == 204
    assert await _members(ctx, slug) == {world.owner.user_id: "owner"}
    _error(
        await client.delete(f"{members}/{world.owner.user_id}", headers=world.owner.headers),
        409,
        "conflict",
    )
    _error(
        await client.delete(f"{members}/{world.editor.user_id}", headers=world.owner.headers),
        409,
        "conflict",
    )
    # the kicked editor no longer sees the private room at all
    _error(await client.get(f"{API}/rooms/{slug}", headers=world.editor.headers), 404, "not_found")


# --- invites --------------------------------------------------------------------------------------


async def test_invite_lifecycle(client: httpx.AsyncClient, ctx: HubContext, world: World) -> None:
    room = await create_room(client, world.owner)
    slug = room["slug"]
    created = await client.post(
        f"{API}/rooms/{slug}/invites",
        json={"role": "viewer", "expires_in": 3600, "max_uses": 2},
        headers=world.owner.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert body["url"] == f"http://testserver/join/{token}"
    assert body["invite"]["state"] == "active"
    assert body["invite"]["uses"] == 0
    async with ctx.db.unit_of_work() as session:
        stored = await session.get(RoomInvite, body["invite"]["invite_id"])
        assert stored is not None
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in stored.token_hash

    accepted = await client.post(f"{API}/invites/{token}/accept", headers=world.viewer.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["joined"] is True
    assert accepted.json()["role"] == "viewer"
    assert accepted.json()["room"]["slug"] == slug
    again = await client.post(f"{API}/invites/{token}/accept", headers=world.viewer.headers)
    assert again.json()["joined"] is False  # no use consumed
    await client.post(f"{API}/invites/{token}/accept", headers=world.editor.headers)
    _error(
        await client.post(f"{API}/invites/{token}/accept", headers=world.outsider.headers),
        410,
        "invite_exhausted",
    )
    listed = (await client.get(f"{API}/rooms/{slug}/invites", headers=world.owner.headers)).json()
    assert [(i["uses"], i["state"]) for i in listed["items"]] == [(2, "exhausted")]
    assert await _members(ctx, slug) == {
        world.owner.user_id: "owner",
        world.viewer.user_id: "viewer",
        world.editor.user_id: "viewer",
    }


async def test_an_editor_invite_raises_a_viewer(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await create_room(client, world.owner)
    await add_member(client, world.owner, room["slug"], world.viewer, "viewer")
    await add_member(client, world.owner, room["slug"], world.viewer, "editor")
    assert (await _members(ctx, room["slug"]))[world.viewer.user_id] == "editor"
    await add_member(client, world.owner, room["slug"], world.viewer, "viewer")  # never lowers
    assert (await _members(ctx, room["slug"]))[world.viewer.user_id] == "editor"


async def test_revoked_and_expired_invites_are_refused(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await create_room(client, world.owner)
    slug = room["slug"]

    async def invite() -> tuple[int, str]:
        response = await client.post(
            f"{API}/rooms/{slug}/invites", json={"role": "editor"}, headers=world.owner.headers
        )
        return response.json()["invite"]["invite_id"], response.json()["token"]

    revoked_id, revoked = await invite()
    response = await client.delete(
        f"{API}/rooms/{slug}/invites/{revoked_id}", headers=world.owner.headers
    )
    assert response.status_code == 204
    assert (
        await client.delete(f"{API}/rooms/{slug}/invites/{revoked_id}", headers=world.owner.headers)
    ).status_code == 204  # idempotent
    _error(
        await client.post(f"{API}/invites/{revoked}/accept", headers=world.editor.headers),
        410,
        "invite_revoked",
    )
    expired_id, expired = await invite()
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(RoomInvite)
            .where(col(RoomInvite.invite_id) == expired_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    _error(
        await client.post(f"{API}/invites/{expired}/accept", headers=world.editor.headers),
        410,
        "invite_expired",
    )
    for token in ("nope", "x" * 40, "y" * 500):
        _error(
            await client.post(f"{API}/invites/{token}/accept", headers=world.editor.headers),
            404,
            "not_found",
        )
    _, fine = await invite()
    _error(await client.post(f"{API}/invites/{fine}/accept"), 401, "unauthenticated")
    for bad in ("abc", "999999", "99999999999"):
        _error(
            await client.delete(f"{API}/rooms/{slug}/invites/{bad}", headers=world.owner.headers),
            404,
            "not_found",
        )
    other = await create_room(client, world.owner)
    _error(
        await client.delete(
            f"{API}/rooms/{other['slug']}/invites/{revoked_id}", headers=world.owner.headers
        ),
        404,
        "not_found",
    )
    assert await _members(ctx, slug) == {world.owner.user_id: "owner"}


@pytest.mark.parametrize(
    "body",
    [
        {"role": "owner"},
        {"role": "editor", "expires_in": 59},
        {"role": "editor", "expires_in": 31 * 24 * 3600},
        {"role": "editor", "max_uses": 0},
        {"role": "editor", "uses": 5},
    ],
)
async def test_invite_creation_rejects_bad_bodies(
    client: httpx.AsyncClient, ctx: HubContext, world: World, body: dict[str, Any]
) -> None:
    room = await create_room(client, world.owner)
    response = await client.post(
        f"{API}/rooms/{room['slug']}/invites", json=body, headers=world.owner.headers
    )
    _error(response, 422, "validation_error")
    async with ctx.db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(RoomInvite)) == 0


async def test_invites_respect_the_member_limit_and_closed_rooms(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await create_room(client, world.owner, max_members=2)
    slug = room["slug"]
    invite = await client.post(
        f"{API}/rooms/{slug}/invites", json={"role": "editor"}, headers=world.owner.headers
    )
    token = invite.json()["token"]
    assert (
        await client.post(f"{API}/invites/{token}/accept", headers=world.editor.headers)
    ).status_code == 200
    _error(
        await client.post(f"{API}/invites/{token}/accept", headers=world.viewer.headers),
        409,
        "room_full",
    )
    await client.patch(
        f"{API}/rooms/{slug}", json={"max_members": None}, headers=world.owner.headers
    )
    await client.post(f"{API}/rooms/{slug}/close", headers=world.owner.headers)
    _error(
        await client.post(f"{API}/invites/{token}/accept", headers=world.viewer.headers),
        409,
        "room_closed",
    )
    await client.delete(f"{API}/rooms/{slug}", headers=world.owner.headers)
    _error(
        await client.post(f"{API}/invites/{token}/accept", headers=world.viewer.headers),
        404,
        "not_found",
    )
    assert set(await _members(ctx, slug)) == {world.owner.user_id, world.editor.user_id}


@BOTH_DATABASES
async def test_concurrent_accepts_never_overrun_max_uses(
    client: httpx.AsyncClient, ctx: HubContext, world: World, make_user: MakeUser
) -> None:
    import asyncio

    room = await create_room(client, world.owner)
    invite = await client.post(
        f"{API}/rooms/{room['slug']}/invites",
        json={"role": "viewer", "max_uses": 2},
        headers=world.owner.headers,
    )
    token = invite.json()["token"]
    users = [await make_user(f"guest{i}") for i in range(6)]
    responses = await asyncio.gather(
        *(client.post(f"{API}/invites/{token}/accept", headers=u.headers) for u in users)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 2, [r.text for r in responses]
    assert all(s == 410 for s in statuses if s != 200)
    assert len(await _members(ctx, room["slug"])) == 3


# --- chat, document, history -------------------------------------------------------------------


async def test_a_before_past_the_databases_integers_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    """SQLite raised OverflowError (a 500) on ?before=2**64 (found by schemathesis)."""
    room = await _room_with_members(client, world)
    for what in ("chat", "history"):
        response = await client.get(
            f"{API}/rooms/{room['slug']}/{what}",
            params={"before": 2**64},
            headers=world.viewer.headers,
        )
        assert response.status_code == 422, (what, response.text)
        assert response.json()["error"]["code"] == "validation_error"


async def test_chat_history_pages_back_from_the_newest(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    room = await _room_with_members(client, world)
    slug = room["slug"]
    for i in range(5):
        data = {"text": f"消息 {i}", "user_id": str(world.editor.user_id), "name": "editor"}
        await emit_room_event(ctx, slug, "chat.message", data)
    await emit_room_event(ctx, slug, "job.progress", {"p": 1})  # not chat
    first = (
        await client.get(
            f"{API}/rooms/{slug}/chat", params={"limit": 3}, headers=world.viewer.headers
        )
    ).json()
    assert [m["text"] for m in first["items"]] == ["消息 4", "消息 3", "消息 2"]
    assert first["items"][0]["user_id"] == world.editor.user_id
    older = (
        await client.get(
            f"{API}/rooms/{slug}/chat",
            params={"limit": 3, "before": first["next_before"]},
            headers=world.viewer.headers,
        )
    ).json()
    assert [m["text"] for m in older["items"]] == ["消息 1", "消息 0"]
    assert older["next_before"] is None
    for params in ({"before": 0}, {"limit": 0}, {"limit": 500}, {"before": "x"}):
        _error(
            await client.get(
                f"{API}/rooms/{slug}/chat", params=params, headers=world.viewer.headers
            ),
            422,
            "validation_error",
        )


async def test_document_reads_the_store_or_the_live_room(
    client: httpx.AsyncClient, ctx: HubContext, world: World
) -> None:
    from pycrdt import Map, Text

    room = await create_room(client, world.owner)
    slug = room["slug"]
    empty = (await client.get(f"{API}/rooms/{slug}/document", headers=world.owner.headers)).json()
    assert empty == {"prompt": "", "negative": "", "params": {}, "source": "store"}
    server = get_rooms(ctx).server
    async with server.direct(slug) as doc:
        doc.get("prompt", type=Text).insert(0, "一只猫 in the rain")
        doc.get("params", type=Map)["seed"] = 42
    live = (await client.get(f"{API}/rooms/{slug}/document", headers=world.owner.headers)).json()
    assert live["source"] == "live"
    assert live["prompt"] == "一只猫 in the rain"
    assert live["params"]["seed"] == 42


async def test_emit_room_event_refuses_bad_input(ctx: HubContext) -> None:
    with pytest.raises(ValueError, match="room id"):
        await emit_room_event(ctx, "bad slug!", "system.notice", {})
    with pytest.raises(ValueError, match="type"):
        await emit_room_event(ctx, "ok-room", "", {})
    with pytest.raises(ValueError, match="JSON"):
        await emit_room_event(ctx, "ok-room", "system.notice", {"x": object()})


async def test_openapi_documents_the_rooms_api(client: httpx.AsyncClient) -> None:
    doc = (await client.get(f"{API}/openapi.json")).json()
    paths = doc["paths"]
    for path, method in [
        ("/api/v1/rooms", "post"),
        ("/api/v1/rooms", "get"),
        ("/api/v1/rooms/{slug}", "patch"),
        ("/api/v1/rooms/{slug}/members/{user_id}", "delete"),
        ("/api/v1/invites/{token}/accept", "post"),
        ("/api/v1/rooms/{slug}/history", "get"),
    ]:
        assert method in paths[path], (path, method)
    assert "410" in paths["/api/v1/invites/{token}/accept"]["post"]["responses"]
