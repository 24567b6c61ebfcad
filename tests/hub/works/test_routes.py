"""POST /api/v1/works and reading works back, through HTTP on both databases: from a room's
images (prompt, parameters, contributors and the prompt's timeline from the room's history), from
"My images", from uploads; drafts; who may publish which image."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.context import HubContext
from hub.forum.models import Thread
from hub.search.schemas import SearchQuery
from hub.search.service import search
from hub.storage.models import Image
from hub.works.models import Work, WorkContributor, WorkImage
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import Person
from tests.hub.works.work_helpers import (
    API,
    create,
    created,
    generated,
    join,
    make_room,
    png,
    room_writer,
    veteran,
)


async def counts(ctx: HubContext) -> tuple[int, int, int, int]:
    """Works, their images, their contributors and forum threads: what a refused request must
    leave as it was."""
    async with ctx.db.unit_of_work() as session:
        found = []
        for table in (Work, WorkImage, WorkContributor, Thread):
            found.append(int(await session.scalar(select(func.count()).select_from(table)) or 0))
    return found[0], found[1], found[2], found[3]


async def shared_room(
    client: httpx.AsyncClient, ctx: HubContext
) -> tuple[Person, Person, str, str]:
    """Ada owns a room, Bob edits in it; both wrote its prompt, Bob generated an image."""
    ada, bob = await veteran(ctx, "ada", "Ada"), await veteran(ctx, "bob", "Bob 鲍勃")
    slug = await make_room(client, ada)
    await join(client, ada, slug, bob)
    writer = room_writer(ctx, slug)
    await writer.type(ada, "a lighthouse")
    await writer.compact()
    await writer.type(bob, " at dusk")
    await writer.negative(ada, "fog")
    image_id = await generated(ctx, bob, room=slug, prompt="a lighthouse at dusk")
    return ada, bob, slug, image_id


@BOTH_DATABASES
async def test_a_room_member_publishes_a_rooms_image_with_its_story(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, _bob, _slug, image_id = await shared_room(client, ctx)
    response = await create(
        client, ada, image_ids=[image_id], title="Lighthouse at dusk", status="published"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= {"id", "url", "thread_id"}
    assert body["url"] == f"/artwork/{body['id']}/lighthouse-at-dusk"
    assert isinstance(body["thread_id"], int)

    work = (await client.get(f"{API}/works/{body['id']}")).json()  # anonymous
    assert work["status"] == "published"
    assert work["prompt"] == "a lighthouse at dusk"
    assert work["negative_prompt"] == "fog"
    assert work["model"] == "offline-sketch"
    assert work["params"] == {"steps": 6, "size": "64x48", "seed": 42}
    assert [i["image_id"] for i in work["images"]] == [image_id]
    assert work["from_room"] is True
    credited = {c["username"]: c["edits"] for c in work["contributors"]}
    assert credited == {"ada": 2, "bob": 1}
    steps = [
        (e["prompt"], e["negative"], [a["username"] for a in e["authors"]])
        for e in work["timeline"]
    ]
    assert steps == [
        ("a lighthouse", "", ["ada"]),
        ("a lighthouse at dusk", "", ["bob"]),
        ("a lighthouse at dusk", "fog", ["ada"]),
    ]
    assert work["timeline"][1]["changes"] == [
        {"op": "same", "text": "a lighthouse"},
        {"op": "added", "text": " at dusk"},
    ]
    assert work["like_count"] == 0
    assert work["liked"] is False


@BOTH_DATABASES
async def test_a_draft_is_its_authors_alone(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada, bob, _slug, image_id = await shared_room(client, ctx)
    draft = await created(client, ada, image_ids=[image_id])
    assert draft["thread_id"] is None
    assert draft["status"] == "draft"
    path = f"{API}/works/{draft['id']}"
    assert (await client.get(path, headers=ada.headers)).status_code == 200
    for headers in (bob.headers, None):
        response = await client.get(path, headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
        assert (await client.get(draft["url"], headers=headers)).status_code == 404
    # Bob cannot change or delete it either, and cannot tell it from a missing work.
    assert (await client.patch(path, json={"title": "x"}, headers=bob.headers)).status_code == 404
    assert (await client.delete(path, headers=bob.headers)).status_code == 404
    assert (await client.put(f"{path}/like", headers=bob.headers)).status_code == 404


@BOTH_DATABASES
async def test_images_from_my_library_carry_their_own_prompt(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada")
    first = await generated(ctx, ada, prompt="a red fox", model="offline-ink", seed=7)
    second = await generated(ctx, ada, prompt="a blue fox", seed=8)
    body = await created(client, ada, image_ids=[first, second], title="Foxes")
    work = (await client.get(f"{API}/works/{body['id']}", headers=ada.headers)).json()
    assert [i["image_id"] for i in work["images"]] == [first, second]
    assert (work["prompt"], work["model"], work["params"]["seed"]) == (
        "a red fox",
        "offline-ink",
        7,
    )
    assert work["timeline"] == []
    assert work["from_room"] is False
    assert [c["username"] for c in work["contributors"]] == ["ada"]


async def upload(client: httpx.AsyncClient, who: Person, data: bytes | None = None) -> str:
    files = {"file": ("mine.png", data or png((80, 60)), "image/png")}
    response = await client.post(f"{API}/uploads", files=files, headers=who.headers)
    assert response.status_code == 201, response.text
    upload_id: str = response.json()["upload_id"]
    return upload_id


@BOTH_DATABASES
async def test_an_upload_becomes_a_work_with_the_prompt_given(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada")
    upload_id = await upload(client, ada)
    source = {
        "upload_id": upload_id,
        "prompt": "an owl, charcoal",
        "negative_prompt": "color",
        "model": "my-own-model v2",
        "params": {"steps": 30, "seed": 99, "sampler": "euler"},
    }
    body = await created(client, ada, uploads=[source], title="Owl", status="published")
    work = (await client.get(f"{API}/works/{body['id']}")).json()
    assert (work["prompt"], work["negative_prompt"], work["model"]) == (
        "an owl, charcoal",
        "color",
        "my-own-model v2",
    )
    assert work["params"] == {"steps": 30, "seed": 99, "sampler": "euler"}
    image = work["images"][0]
    assert (image["width"], image["height"], image["seed"]) == (80, 60, 99)
    # It is an image of Ada's library now, with its prompt.
    library = (await client.get(f"{API}/images", headers=ada.headers)).json()["items"]
    assert [(i["image_id"], i["prompt"]) for i in library] == [
        (image["image_id"], "an owl, charcoal")
    ]


@BOTH_DATABASES
async def test_images_i_may_not_see_are_404_and_leave_nothing(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob, slug, room_image = await shared_room(client, ctx)
    eve = await veteran(ctx, "eve")
    ada_own = await generated(ctx, ada)
    private_room = await make_room(client, ada, "Secret")
    private_image = await generated(ctx, ada, room=private_room)
    public_room = await make_room(client, ada, "Open", visibility="public")
    public_image = await generated(ctx, ada, room=public_room)
    ada_upload = await upload(client, ada)
    before = await counts(ctx)

    cases: list[tuple[dict[str, Any], int]] = [
        ({"image_ids": [ada_own]}, 404),  # someone else's library
        ({"image_ids": [room_image]}, 404),  # a private room Eve is not in
        ({"image_ids": [private_image]}, 404),
        ({"image_ids": ["0190a0a0-0000-7000-8000-000000000000"]}, 404),  # no such image
        ({"image_ids": ["not-an-image"]}, 404),
        ({"image_ids": [public_image]}, 403),  # Eve sees it but only watches the room
        ({"uploads": [{"upload_id": ada_upload, "prompt": "mine now"}]}, 404),
    ]
    for body, status in cases:
        response = await create(client, eve, **body)
        assert response.status_code == status, (body, response.text)
    # A good image does not carry a bad one through.
    eve_image = await generated(ctx, eve)
    response = await create(client, eve, image_ids=[eve_image, ada_own], status="published")
    assert response.status_code == 404
    assert await counts(ctx) == before
    # A viewer member may not publish the room's images either; an editor may.
    carl = await veteran(ctx, "carl")
    await join(client, ada, slug, carl, role="viewer")
    assert (await create(client, carl, image_ids=[room_image])).status_code == 403
    assert (await create(client, bob, image_ids=[room_image])).status_code == 201


@BOTH_DATABASES
async def test_bad_bodies_are_refused(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada = await veteran(ctx, "ada")
    image = await generated(ctx, ada)
    other_room = await make_room(client, ada, "Other")
    room = await make_room(client, ada, "One")
    in_room = await generated(ctx, ada, room=room)
    in_other = await generated(ctx, ada, room=other_room)
    before = await counts(ctx)
    refused: list[tuple[dict[str, Any], str]] = [
        ({"image_ids": []}, "validation_error"),
        ({"image_ids": [image, image]}, "validation_error"),
        ({"image_ids": [image], "title": "   "}, "validation_error"),
        ({"image_ids": [image], "title": "a\u200bb"}, "validation_error"),
        ({"image_ids": [image], "title": "x" * 201}, "validation_error"),
        ({"image_ids": [image], "status": "secret"}, "validation_error"),
        ({"image_ids": [image], "status": "published", "category": "nope"}, "validation_error"),
        ({"image_ids": [image], "thread_id": 1}, "validation_error"),  # a draft with a thread
        ({"image_ids": [image], "extra": 1}, "validation_error"),
        ({"image_ids": [image] * 11}, "validation_error"),
        ({"image_ids": [in_room, in_other]}, "validation_error"),
        ({"image_ids": "abc"}, "validation_error"),
    ]
    for body, code in refused:
        response = await create(client, ada, **body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == code
    fields = (await create(client, ada, image_ids=[in_room, in_other])).json()["error"]
    assert fields["details"]["fields"][0]["type"] == "mixed_rooms"
    headers = {**ada.headers, "content-type": "application/json"}
    assert (await client.post(f"{API}/works", content=b"{nope", headers=headers)).status_code == 400
    assert (await client.post(f"{API}/works", content=b"[1]", headers=headers)).status_code == 400
    huge = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await client.post(f"{API}/works", content=huge, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    plain = {**ada.headers, "content-type": "text/plain"}
    assert (await client.post(f"{API}/works", content=b"{}", headers=plain)).status_code == 415
    assert (await client.post(f"{API}/works", json={"image_ids": [image]})).status_code == 401
    assert await counts(ctx) == before


@BOTH_DATABASES
async def test_unknown_and_malformed_work_ids_are_404(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada")
    for raw in ("999999", "0", "-1", "abc", "1e3", "99999999999999999999", "%00"):
        assert (await client.get(f"{API}/works/{raw}")).status_code == 404, raw
        assert (await client.put(f"{API}/works/{raw}/like", headers=ada.headers)).status_code == 404
        assert (await client.get(f"/artwork/{raw}/x")).status_code == 404, raw


@BOTH_DATABASES
async def test_published_works_are_found_and_drafts_only_by_their_author(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await veteran(ctx, "ada"), await veteran(ctx, "bob")
    shown = await created(
        client,
        ada,
        image_ids=[await generated(ctx, ada, prompt="a zebra crossing")],
        title="Crossing",
        status="published",
    )
    hidden = await created(
        client, ada, image_ids=[await generated(ctx, ada, prompt="a zebra alone")], title="Alone"
    )

    async def found(viewer: int | None) -> set[str]:
        async with ctx.db.unit_of_work() as session:
            page = await search(
                session, viewer, SearchQuery.model_validate({"q": "zebra", "type": "work"})
            )
        return {item.url for item in page.items}

    assert await found(None) == {shown["url"]}
    assert await found(bob.user_id) == {shown["url"]}
    assert await found(ada.user_id) == {shown["url"], hidden["url"]}
    # Deleting takes it out.
    assert (
        await client.delete(f"{API}/works/{shown['id']}", headers=ada.headers)
    ).status_code == 204
    assert await found(None) == set()


@pytest.mark.parametrize("count", [3])
async def test_my_works_pages_with_a_cursor(
    client: httpx.AsyncClient, ctx: HubContext, count: int
) -> None:
    ada = await veteran(ctx, "ada")
    made = [
        (await created(client, ada, image_ids=[await generated(ctx, ada)], title=f"w{i}"))["id"]
        for i in range(count)
    ]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{API}/me/works", params=params, headers=ada.headers)).json()
        seen += [item["work_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    bad = await client.get(f"{API}/me/works", params={"cursor": "bm9wZQ"}, headers=ada.headers)
    assert bad.status_code == 400


async def test_an_image_deleted_from_the_library_leaves_the_work(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada")
    first, second = await generated(ctx, ada), await generated(ctx, ada)
    body = await created(client, ada, image_ids=[first, second], status="published")
    assert (await client.delete(f"{API}/images/{first}", headers=ada.headers)).status_code == 204
    work = (await client.get(f"{API}/works/{body['id']}")).json()
    assert [i["image_id"] for i in work["images"]] == [second]
    async with ctx.db.unit_of_work() as session:
        assert (await session.get(Image, first)) is not None  # soft-deleted only
