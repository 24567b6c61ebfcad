"""The room page and the invite page (server-rendered)."""

from __future__ import annotations

import re

import httpx

from hub.context import HubContext
from tests.hub.collab.conftest import MakeUser, add_member, create_room
from tests.hub.collab.test_routes import _members

PASSWORD = "rainy-Cats-42-in-town"


async def test_room_page_renders_for_members_and_escapes_titles(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("olivia", "Olivia <b>")
    room = await create_room(
        client, owner, title="<script>alert(1)</script> 猫", description="line\n<i>two</i>"
    )
    response = await client.get(f"/r/{room['slug']}", headers=owner.headers)
    assert response.status_code == 200
    html = response.text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 猫" in html
    assert "&lt;i&gt;two&lt;/i&gt;" in html
    assert 'data-role="owner"' in html
    assert f'data-slug="{room["slug"]}"' in html
    assert 'data-name="Olivia &lt;b&gt;"' in html
    assert '<script type="module" src="/static/js/room.js">' in html


async def test_room_page_sends_visitors_to_sign_in_and_hides_private_rooms(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("olivia")
    outsider = await make_user("oscar")
    room = await create_room(client, owner)
    anonymous = await client.get(f"/r/{room['slug']}")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/login?next=/r/{room['slug']}"
    hidden = await client.get(
        f"/r/{room['slug']}", headers={**outsider.headers, "accept": "text/html"}
    )
    assert hidden.status_code == 404
    assert "text/html" in hidden.headers["content-type"]
    public = await create_room(client, owner, visibility="public", allow_anonymous_view=True)
    watch = await client.get(f"/r/{public['slug']}")
    assert watch.status_code == 200
    assert 'data-role="viewer"' in watch.text
    assert "Sign in to chat" in watch.text


async def test_static_room_assets_are_served(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/js/room.js")
    assert script.status_code == 200
    assert 'from "/static/vendor/yjs/yjs-bundle.mjs"' in script.text
    assert (await client.get("/static/css/room.css")).status_code == 200


async def test_join_page_accepts_an_invite_after_sign_in(
    client: httpx.AsyncClient, ctx: HubContext, make_user: MakeUser
) -> None:
    owner = await make_user("olivia")
    room = await create_room(client, owner)
    invite = await client.post(
        f"/api/v1/rooms/{room['slug']}/invites", json={"role": "editor"}, headers=owner.headers
    )
    token = invite.json()["token"]

    signed_out = await client.get(f"/join/{token}")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == f"/login?next=/join/{token}"

    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": "bob@example.test", "username": "bob", "password": PASSWORD},
    )
    assert registered.status_code == 201, registered.text
    bob_id = registered.json()["user"]["user_id"]
    page = await client.get(f"/join/{token}")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text

    forged = await client.post(f"/join/{token}", data={"csrf_token": "wrong"})
    assert forged.status_code == 403
    assert bob_id not in await _members(ctx, room["slug"])

    joined = await client.post(f"/join/{token}", data={"csrf_token": match.group(1)})
    assert joined.status_code == 303
    assert joined.headers["location"] == f"/r/{room['slug']}"
    assert (await _members(ctx, room["slug"]))[bob_id] == "editor"


async def test_join_page_shows_clear_errors_for_dead_invites(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("olivia")
    member = await make_user("mia")
    room = await create_room(client, owner)
    await add_member(client, owner, room["slug"], member, "viewer")
    unknown = await client.post(
        "/join/not-a-real-token-at-all", headers={**member.headers, "accept": "text/html"}
    )
    assert unknown.status_code == 404
    assert "This invite does not exist." in unknown.text
