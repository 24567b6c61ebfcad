"""The image library through HTTP: listing, search, filters, cursor paging (on both databases),
one image, soft delete, and who may see what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from hub.pagination import encode_cursor
from hub.storage.images import read_png_metadata
from tests.helpers import BOTH_DATABASES
from tests.hub.storage.helpers import (
    User,
    image_row,
    new_user,
    save_image,
    set_created_at,
    stored_keys,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def _ids(client: httpx.AsyncClient, user: User, **params: Any) -> list[str]:
    response = await client.get("/api/v1/images", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return [item["image_id"] for item in response.json()["items"]]


async def _all_pages(client: httpx.AsyncClient, user: User, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(50):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/images", params=query, headers=user.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(item["image_id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


# --- listing and paging --------------------------------------------------------------------------


@BOTH_DATABASES
async def test_paging_visits_every_image_once_newest_first(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    alice = await new_user(client, "alice")
    saved = [await save_image(ctx, alice, prompt=f"fox {n}") for n in range(7)]
    # Three share one timestamp: the image id breaks the tie, so no page repeats or skips one.
    for n, view in enumerate(saved):
        moment = T0 + timedelta(minutes=min(n, 3))
        await set_created_at(ctx, view.image_id, moment)
    expected = sorted(
        saved,
        key=lambda v: (T0 + timedelta(minutes=min(saved.index(v), 3)), v.image_id),
        reverse=True,
    )
    pages = await _all_pages(client, alice, limit=2)
    assert pages == [v.image_id for v in expected]


@BOTH_DATABASES
async def test_filters_and_search_combine(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    fox = await save_image(ctx, alice, prompt="A Red FOX, 50% off_white", room_id="den")
    cat = await save_image(ctx, alice, prompt="一只橘猫 in the rain", model="sdxl")
    owl = await save_image(ctx, alice, prompt="snowy owl", model="sdxl", room_id="den")
    await set_created_at(ctx, fox.image_id, T0)
    await set_created_at(ctx, cat.image_id, T0 + timedelta(days=1))
    await set_created_at(ctx, owl.image_id, T0 + timedelta(days=2))

    assert await _ids(client, alice, q="red fox") == [fox.image_id]
    assert await _ids(client, alice, q="fox red") == [fox.image_id]  # words in any order
    assert await _ids(client, alice, q="fox owl") == []  # every word must match
    assert await _ids(client, alice, q="橘猫") == [cat.image_id]
    assert await _ids(client, alice, q="50%") == [fox.image_id]  # LIKE wildcards are literal
    assert await _ids(client, alice, q="%") == [fox.image_id]
    assert await _ids(client, alice, q="f_x") == []
    assert await _ids(client, alice, q="off_white") == [fox.image_id]
    assert await _ids(client, alice, model="sdxl") == [owl.image_id, cat.image_id]
    assert await _ids(client, alice, room="den") == [owl.image_id, fox.image_id]
    assert await _ids(client, alice, room="den", model="sdxl") == [owl.image_id]
    day = T0 + timedelta(days=1)
    assert await _ids(client, alice, since=day.isoformat()) == [owl.image_id, cat.image_id]
    assert await _ids(client, alice, until=day.isoformat()) == [fox.image_id]
    assert await _ids(client, alice, since="2026-11-02", until="2026-11-03") == [cat.image_id]
    # Times just outside UTC's range are the start and the end of time (they were a 500).
    assert len(await _ids(client, alice, since="0001-01-01T00:00:00+05:00")) == 3
    assert len(await _ids(client, alice, until="9999-12-31T23:00:00-05:00")) == 3
    assert await _ids(client, alice, until="0001-01-01T00:00:00+05:00") == []
    # A search box sends empty fields: they mean "no filter".
    assert len(await _ids(client, alice, q="", model="", room="")) == 3


async def test_listing_shows_only_my_live_images(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    mine = await save_image(ctx, alice)
    gone = await save_image(ctx, alice)
    await save_image(ctx, bob)
    assert (
        await client.delete(f"/api/v1/images/{gone.image_id}", headers=alice.headers)
    ).status_code == 204
    assert await _ids(client, alice) == [mine.image_id]


async def test_listing_item_shape(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    view = await save_image(ctx, alice, seed=2**64 - 1, params={"steps": 4, "cfg": 7.5})
    body = (await client.get("/api/v1/images", headers=alice.headers)).json()
    item = body["items"][0]
    assert body["next_cursor"] is None
    assert item["image_id"] == view.image_id
    assert item["seed"] == 2**64 - 1  # beyond BIGINT: stored as text, returned as a number
    assert item["params"] == {"steps": 4, "cfg": 7.5}
    assert (item["width"], item["height"], item["mime"]) == (64, 48, "image/png")
    assert item["download_url"] == f"/api/v1/images/{view.image_id}/download"
    for name in ("url", "thumb_url", "square_url"):
        served = await client.get(item[name])
        assert served.status_code == 200, name
    original = (await client.get(item["url"])).content
    assert item["bytes"] == len(original)
    meta = read_png_metadata(original)
    assert meta.prompt == "a red fox in the snow"
    assert meta.negative_prompt == "blurry"
    assert meta.parameters == {"steps": 4, "cfg": 7.5, "model": "offline", "seed": 2**64 - 1}


async def test_listing_runs_one_query_on_images(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    for n in range(5):
        await save_image(ctx, alice, prompt=f"owl {n}")
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "images" in statement:
            statements.append(statement)

    engine = ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert len(await _ids(client, alice, limit=3)) == 3
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1, statements


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"since": "yesterday"},
        {"until": "0.5"},
        {"q": "x" * 201},
        {"model": "m" * 65},
    ],
)
async def test_listing_bad_query_is_422(
    client: httpx.AsyncClient, ctx: Any, params: dict[str, str]
) -> None:
    alice = await new_user(client, "alice")
    response = await client.get("/api/v1/images", params=params, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        encode_cursor(datetime(2026, 1, 1), "x"),  # noqa: DTZ001 - a naive time is the bad input
        encode_cursor(T0, 12),
    ],
)
async def test_listing_bad_cursor_is_4xx(client: httpx.AsyncClient, ctx: Any, cursor: str) -> None:
    alice = await new_user(client, "alice")
    response = await client.get("/api/v1/images", params={"cursor": cursor}, headers=alice.headers)
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["code"] in ("bad_request", "validation_error")


async def test_library_needs_sign_in(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/images"),
        ("GET", "/api/v1/images/x"),
        ("DELETE", "/api/v1/images/x"),
        ("GET", "/api/v1/images/x/download"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "unauthenticated"


# --- one image, delete, permissions --------------------------------------------------------------


async def test_get_my_image(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    view = await save_image(ctx, alice, room_id="den")
    response = await client.get(f"/api/v1/images/{view.image_id}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == view.model_dump(mode="json")


@pytest.mark.parametrize("image_id", ["nope", "0" * 36, "../../etc", "a" * 500])
async def test_unknown_image_is_404(client: httpx.AsyncClient, ctx: Any, image_id: str) -> None:
    alice = await new_user(client, "alice")
    for method, path in [
        ("GET", f"/api/v1/images/{image_id}"),
        ("DELETE", f"/api/v1/images/{image_id}"),
        ("GET", f"/api/v1/images/{image_id}/download"),
    ]:
        response = await client.request(method, path, headers=alice.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"


async def test_other_users_image_is_404_everywhere(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    view = await save_image(ctx, alice, room_id="den")
    for method, path in [
        ("GET", f"/api/v1/images/{view.image_id}"),
        ("DELETE", f"/api/v1/images/{view.image_id}"),
        ("GET", f"/api/v1/images/{view.image_id}/download"),
    ]:
        response = await client.request(method, path, headers=bob.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    zipped = await client.post(
        "/api/v1/images/download", json={"image_ids": [view.image_id]}, headers=bob.headers
    )
    assert zipped.status_code == 404
    assert zipped.json()["error"]["details"]["missing"] == [view.image_id]
    row = await image_row(ctx, view.image_id)
    assert row is not None
    assert row.deleted_at is None


async def _room(client: httpx.AsyncClient, owner: User, title: str) -> str:
    response = await client.post("/api/v1/rooms", json={"title": title}, headers=owner.headers)
    assert response.status_code == 201, response.text
    slug: str = response.json()["slug"]
    return slug


async def _invite(client: httpx.AsyncClient, owner: User, slug: str, member: User) -> None:
    invite = await client.post(
        f"/api/v1/rooms/{slug}/invites", json={"role": "viewer"}, headers=owner.headers
    )
    assert invite.status_code == 201, invite.text
    token = invite.json()["token"]
    accepted = await client.post(f"/api/v1/invites/{token}/accept", headers=member.headers)
    assert accepted.status_code == 200, accepted.text


async def test_room_members_may_view_but_not_delete(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    den, attic = await _room(client, alice, "den"), await _room(client, alice, "attic")
    await _invite(client, alice, den, bob)  # both rooms are private: bob is in the den only
    in_den = await save_image(ctx, alice, room_id=den)
    elsewhere = await save_image(ctx, alice, room_id=attic)
    private = await save_image(ctx, alice)
    ok = await client.get(f"/api/v1/images/{in_den.image_id}", headers=bob.headers)
    assert ok.status_code == 200
    download = await client.get(f"/api/v1/images/{in_den.image_id}/download", headers=bob.headers)
    assert download.status_code == 200
    for other in (elsewhere, private):
        hidden = await client.get(f"/api/v1/images/{other.image_id}", headers=bob.headers)
        assert hidden.status_code == 404
    delete = await client.delete(f"/api/v1/images/{in_den.image_id}", headers=bob.headers)
    assert delete.status_code == 404
    assert await _ids(client, bob) == []  # the library lists your own images only


async def test_delete_is_soft_and_keeps_files(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    view = await save_image(ctx, alice)
    response = await client.delete(f"/api/v1/images/{view.image_id}", headers=alice.headers)
    assert response.status_code == 204
    assert response.content == b""
    row = await image_row(ctx, view.image_id)
    assert row is not None
    assert row.deleted_at is not None
    assert len(await stored_keys(ctx, f"images/{view.job_id}/")) == 3  # files go with cleanup
    again = await client.delete(f"/api/v1/images/{view.image_id}", headers=alice.headers)
    assert again.status_code == 404
    gone = await client.get(f"/api/v1/images/{view.image_id}", headers=alice.headers)
    assert gone.status_code == 404


async def test_delete_with_session_cookie_needs_csrf(client: httpx.AsyncClient, ctx: Any) -> None:
    from tests.hub.accounts.helpers import signed_up

    alice = await new_user(client, "alice")
    view = await save_image(ctx, alice)
    carol_csrf = await signed_up(client, "carol")
    carol = await client.get("/api/v1/me")
    carol_user = User(int(carol.json()["user_id"]), "carol", {})
    mine = await save_image(ctx, carol_user)
    no_token = await client.delete(f"/api/v1/images/{mine.image_id}")
    assert no_token.status_code == 403
    assert no_token.json()["error"]["code"] == "csrf_failed"
    headers = {"x-csrf-token": carol_csrf}
    assert (
        await client.delete(f"/api/v1/images/{view.image_id}", headers=headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/images/{mine.image_id}", headers=headers)
    ).status_code == 204


async def test_openapi_documents_the_library(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    paths = doc["paths"]
    assert {"get"} <= set(paths["/api/v1/images"])
    assert {"get", "delete"} <= set(paths["/api/v1/images/{image_id}"])
    assert "get" in paths["/api/v1/images/{image_id}/download"]
    assert "post" in paths["/api/v1/images/download"]
    upload = paths["/api/v1/uploads"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "422" in upload["responses"]
    assert "post" in paths["/api/v1/me/avatar"]
    query_names = {p["name"] for p in paths["/api/v1/images"]["get"]["parameters"]}
    assert {"q", "model", "room", "since", "until", "cursor", "limit"} <= query_names
