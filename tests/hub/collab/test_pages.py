"""The room page and the invite page (server-rendered)."""

from __future__ import annotations

import re

import httpx

from hub.context import HubContext
from tests.helpers import BOTH_DATABASES
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


async def test_room_page_lists_members_and_gives_the_owner_invite_controls(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("olivia", "Olivia")
    member = await make_user("mia", "<b>Mia</b> 米娅")
    room = await create_room(client, owner)
    slug = room["slug"]

    page = (await client.get(f"/r/{slug}", headers=owner.headers)).text
    assert "No active invite links. Create one below and share it." in page
    assert 'id="invite-form"' in page
    assert '<script type="module" src="/static/js/people.js">' in page
    assert 'data-csrf="' in page

    await add_member(client, owner, slug, member, "editor")
    page = (await client.get(f"/r/{slug}", headers=owner.headers)).text
    assert "<b>Mia</b>" not in page
    assert "&lt;b&gt;Mia&lt;/b&gt; 米娅" in page
    assert 'aria-label="Role of &lt;b&gt;Mia&lt;/b&gt; 米娅"' in page
    assert 'aria-label="Remove &lt;b&gt;Mia&lt;/b&gt; 米娅 from the room"' in page
    assert f'<li class="member" data-user-id="{member.user_id}" data-role="editor">' in page
    assert f'<li class="member" data-user-id="{owner.user_id}" data-role="owner">' in page
    assert "Olivia (you)" in page
    # add_member's invite was used once and stays active (no limit), with its revoke button.
    assert "used 1 · expires <time" in " ".join(page.split())
    assert 'aria-label="Revoke the editor invite link #' in page

    # A member sees the list with roles but none of the owner's controls or invites.
    as_member = (await client.get(f"/r/{slug}", headers=member.headers)).text
    assert "Olivia" in as_member
    assert "&lt;b&gt;Mia&lt;/b&gt; 米娅 (you)" in as_member
    assert '<span class="badge role">owner</span>' in as_member
    assert 'class="member-role"' not in as_member
    assert "Invite links" not in as_member
    assert 'id="invite-form"' not in as_member
    assert 'data-leave="1"' in as_member  # members may leave


@BOTH_DATABASES
async def test_people_panel_shows_active_invites_and_follows_room_access(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner = await make_user("olivia")
    member = await make_user("mia")
    outsider = await make_user("oscar")
    room = await create_room(client, owner)
    slug = room["slug"]
    await add_member(client, owner, slug, member, "viewer")
    made = await client.post(
        f"/api/v1/rooms/{slug}/invites",
        json={"role": "viewer", "expires_in": 3600, "max_uses": 3},
        headers=owner.headers,
    )
    invite_id = made.json()["invite"]["invite_id"]

    panel = await client.get(f"/r/{slug}/people", headers=owner.headers)
    assert panel.status_code == 200
    assert "text/html" in panel.headers["content-type"]
    assert "<html" not in panel.text  # the panel alone, for the page's script to swap in
    assert "used 0 of 3 · expires <time" in " ".join(panel.text.split())
    assert made.json()["token"] not in panel.text  # tokens are shown once, at creation

    revoked = await client.delete(
        f"/api/v1/rooms/{slug}/invites/{invite_id}", headers=owner.headers
    )
    assert revoked.status_code == 204
    panel = await client.get(f"/r/{slug}/people", headers=owner.headers)
    assert "used 0 of 3" not in panel.text
    assert "1 revoked, expired or used-up link not shown." in panel.text

    as_member = await client.get(f"/r/{slug}/people", headers=member.headers)
    assert as_member.status_code == 200
    assert "Invite links" not in as_member.text
    html = {"accept": "text/html"}
    hidden = await client.get(f"/r/{slug}/people", headers={**outsider.headers, **html})
    assert hidden.status_code == 404
    assert "olivia" not in hidden.text
    anonymous = await client.get(f"/r/{slug}/people", headers=html)
    assert anonymous.status_code == 404
    missing = await client.get("/r/no-such-room-aaaaaaaa/people", headers=owner.headers)
    assert missing.status_code == 404


async def test_join_page_names_the_room_and_role_and_skips_members(
    client: httpx.AsyncClient, ctx: HubContext, make_user: MakeUser
) -> None:
    owner = await make_user("olivia", "Olivia <i>")
    member = await make_user("mia")
    newcomer = await make_user("nina")
    room = await create_room(client, owner, title="Koi <pond>")
    slug = room["slug"]
    await add_member(client, owner, slug, member, "editor")
    made = await client.post(
        f"/api/v1/rooms/{slug}/invites", json={"role": "viewer"}, headers=owner.headers
    )
    token = made.json()["token"]

    page = await client.get(f"/join/{token}", headers=newcomer.headers)
    assert page.status_code == 200
    assert "Join “Koi &lt;pond&gt;”" in page.text
    assert "Olivia &lt;i&gt; invited you" in page.text
    assert "as <strong>viewer</strong>" in page.text
    assert newcomer.user_id not in await _members(ctx, slug)  # looking is not joining

    # An editor already has more than a viewer invite gives: straight to the room.
    already = await client.get(f"/join/{token}", headers=member.headers)
    assert already.status_code == 303
    assert already.headers["location"] == f"/r/{slug}"

    await client.delete(
        f"/api/v1/rooms/{slug}/invites/{made.json()['invite']['invite_id']}",
        headers=owner.headers,
    )
    dead = await client.get(f"/join/{token}", headers={**newcomer.headers, "accept": "text/html"})
    assert dead.status_code == 410
    assert "Koi" not in dead.text
    unknown = await client.get(
        "/join/not-a-real-token-at-all", headers={**newcomer.headers, "accept": "text/html"}
    )
    assert unknown.status_code == 404
