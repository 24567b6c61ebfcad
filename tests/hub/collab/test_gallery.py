"""The room gallery through HTTP (``GET /api/v1/rooms/{slug}/images``): every member's images of
the room, newest first, cursor-paged on both databases, also for someone who joins later;
members only; bad cursors and limits refused; a room image is a source for the room's members."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.pagination import encode_cursor
from tests.helpers import BOTH_DATABASES
from tests.hub.collab.conftest import TestUser, add_member, create_room, create_test_user
from tests.hub.storage.helpers import User, save_image, set_created_at

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _owner(user: TestUser) -> User:
    return User(user.user_id, user.username, user.headers)


async def _gallery(
    client: httpx.AsyncClient, user: TestUser, slug: str, **params: Any
) -> httpx.Response:
    return await client.get(f"/api/v1/rooms/{slug}/images", params=params, headers=user.headers)


async def _all_pages(client: httpx.AsyncClient, user: TestUser, slug: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await _gallery(client, user, slug, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        seen.extend(item["image_id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


@BOTH_DATABASES
async def test_gallery_pages_every_members_images_newest_first_for_a_late_joiner(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    olivia = await create_test_user(ctx, "olivia", "Olivia")
    edward = await create_test_user(ctx, "edward", "Edward")
    late = await create_test_user(ctx, "lara", "Lara")
    slug = (await create_room(client, olivia))["slug"]
    other = (await create_room(client, olivia, title="Elsewhere"))["slug"]
    await add_member(client, olivia, slug, edward, "editor")
    made: list[tuple[datetime, str]] = []
    for n in range(5):
        maker = olivia if n % 2 == 0 else edward
        view = await save_image(ctx, _owner(maker), room_id=slug, prompt=f"fox {n}")
        # Two share one timestamp: the image id breaks the tie, so no page repeats or skips one.
        moment = T0 + timedelta(minutes=min(n, 3))
        await set_created_at(ctx, view.image_id, moment)
        made.append((moment, view.image_id))
    await save_image(ctx, _owner(olivia), room_id=other, prompt="not this room")
    await save_image(ctx, _owner(olivia), prompt="not from a room")
    gone = await save_image(ctx, _owner(edward), room_id=slug, prompt="deleted")
    deleted = await client.delete(f"/api/v1/images/{gone.image_id}", headers=edward.headers)
    assert deleted.status_code == 204, deleted.text

    await add_member(client, olivia, slug, late, "viewer")  # joins after everything was made
    expected = [image_id for _, image_id in sorted(made, reverse=True)]
    assert await _all_pages(client, late, slug, limit=2) == expected
    assert await _all_pages(client, edward, slug, limit=100) == expected
    first = (await _gallery(client, late, slug, limit=1)).json()["items"][0]
    assert first["room_id"] == slug
    assert first["url"].startswith("/media/")
    assert {"thumb_url", "download_url", "width", "height", "prompt", "created_at"} <= set(first)


@BOTH_DATABASES
async def test_gallery_is_for_members_only(client: httpx.AsyncClient, ctx: Any) -> None:
    olivia = await create_test_user(ctx, "olivia", "Olivia")
    stranger = await create_test_user(ctx, "sam", "Sam")
    private = (await create_room(client, olivia))["slug"]
    public = (await create_room(client, olivia, title="Open", visibility="public"))["slug"]
    await save_image(ctx, _owner(olivia), room_id=private)
    await save_image(ctx, _owner(olivia), room_id=public)

    hidden = await _gallery(client, stranger, private)
    assert hidden.status_code == 404, hidden.text
    assert hidden.json()["error"]["code"] == "not_found"
    # The same answer as for a room that does not exist: no existence leak.
    missing = await _gallery(client, stranger, "no-such-room")
    assert (missing.status_code, missing.json()) == (404, hidden.json())
    # A public room may be watched, but its gallery belongs to the people in it.
    watched = await _gallery(client, stranger, public)
    assert watched.status_code == 403, watched.text
    assert watched.json()["error"]["code"] == "forbidden"
    anonymous = await client.get(f"/api/v1/rooms/{public}/images")
    assert anonymous.status_code == 401, anonymous.text
    assert (await _gallery(client, olivia, public)).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage!"},
        {"cursor": "a/b"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "many"},
        {"order": "oldest"},
    ],
)
async def test_gallery_refuses_bad_parameters_with_422(
    client: httpx.AsyncClient, ctx: Any, params: dict[str, str]
) -> None:
    olivia = await create_test_user(ctx, "olivia", "Olivia")
    slug = (await create_room(client, olivia))["slug"]
    response = await _gallery(client, olivia, slug, **params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "cursor",
    [
        "bm90IGpzb24",  # base64url of "not json"
        encode_cursor(datetime(2026, 1, 1), "x"),  # noqa: DTZ001 - naive is the point
        encode_cursor(T0, 12),
        encode_cursor(T0, ""),
    ],
)
async def test_gallery_refuses_a_cursor_it_did_not_make_with_400(
    client: httpx.AsyncClient, ctx: Any, cursor: str
) -> None:
    # The convention of every list (docs/api.md): the schema allows any base64url, the content
    # is the hub's own.
    olivia = await create_test_user(ctx, "olivia", "Olivia")
    slug = (await create_room(client, olivia))["slug"]
    response = await _gallery(client, olivia, slug, cursor=cursor)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"


async def test_a_room_image_is_a_source_for_members_not_for_others(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    olivia = await create_test_user(ctx, "olivia", "Olivia")
    edward = await create_test_user(ctx, "edward", "Edward")
    slug = (await create_room(client, olivia))["slug"]
    await add_member(client, olivia, slug, edward, "editor")
    image = await save_image(ctx, _owner(olivia), room_id=slug)
    body = {"prompt": "the same, at night", "source_image_key": image.image_id}
    used = await client.post(f"/api/v1/rooms/{slug}/jobs", json=body, headers=edward.headers)
    assert used.status_code == 201, used.text
    (job,) = used.json()["jobs"]
    assert (job["kind"], job["source_image_key"]) == ("img2img", image.key)
    # Someone who is not in the room cannot use its image, even in a room of their own.
    stranger = await create_test_user(ctx, "sam", "Sam")
    theirs = (await create_room(client, stranger, title="Theirs"))["slug"]
    refused = await client.post(f"/api/v1/rooms/{theirs}/jobs", json=body, headers=stranger.headers)
    assert refused.status_code == 404, refused.text


async def test_room_page_offers_the_gallery_to_members_only(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    olivia = await create_test_user(ctx, "olivia", "Olivia")
    watcher = await create_test_user(ctx, "walt", "Walt")
    slug = (await create_room(client, olivia, title="Open", visibility="public"))["slug"]
    member = await client.get(f"/r/{slug}", headers=olivia.headers)
    assert member.status_code == 200
    assert 'data-member="yes"' in member.text
    assert 'id="gallery-grid"' in member.text
    # The scripts' messages come translated with the page, as JSON safe inside <script>.
    (text,) = re.findall(
        r'<script type="application/json" id="room-text">(.*?)</script>', member.text
    )
    messages = json.loads(text)
    assert messages["job.succeeded"] == "{name}'s generation is ready"
    assert "<" not in text
    watching = await client.get(f"/r/{slug}", headers=watcher.headers)
    assert watching.status_code == 200
    assert 'data-member=""' in watching.text
    assert 'id="gallery-grid"' not in watching.text
    assert "The gallery is for the room's members." in watching.text
