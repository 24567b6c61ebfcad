"""The remix chain through HTTP on both databases: a remix opens a room seeded from the work
(optionally with its image as the img2img source), works made there name their parent, the
first publication counts and notifies, and the lineage reads both ways, paged, through deleted
works. Bad input: drafts, hidden, deleted and unknown works, wrong bodies and cursors."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from hub.context import HubContext
from hub.db import utcnow
from hub.notifications.models import Notification
from hub.storage.models import Upload
from hub.storage.service import access_source_key
from hub.works.models import WorkRemixRoom
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import Person
from tests.hub.works.feed_helpers import set_columns
from tests.hub.works.work_helpers import API, created, generated, veteran, work_row


async def published(
    client: httpx.AsyncClient, ctx: HubContext, who: Person, *, room: str | None = None, **body: Any
) -> int:
    image = await generated(ctx, who, room=room, prompt="a lighthouse, dusk", negative="fog")
    body.setdefault("status", "published")
    work: dict[str, Any] = await created(client, who, image_ids=[image], **body)
    return int(work["id"])


async def remix(
    client: httpx.AsyncClient, who: Person, work_id: int, **body: Any
) -> httpx.Response:
    return await client.post(f"{API}/works/{work_id}/remix", json=body, headers=who.headers)


async def remix_room(client: httpx.AsyncClient, who: Person, work_id: int, **body: Any) -> str:
    response = await remix(client, who, work_id, **body)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"room"}
    slug: str = response.json()["room"]
    return slug


async def remixed(
    client: httpx.AsyncClient, ctx: HubContext, who: Person, parent: int, **body: Any
) -> int:
    """A published work of ``who`` made in a room remixed from ``parent``."""
    slug = await remix_room(client, who, parent)
    return await published(client, ctx, who, room=slug, **body)


async def document(client: httpx.AsyncClient, slug: str, who: Person) -> dict[str, Any]:
    response = await client.get(f"{API}/rooms/{slug}/document", headers=who.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def lineage(
    client: httpx.AsyncClient, work_id: int, who: Person | None = None, **params: Any
) -> dict[str, Any]:
    headers = who.headers if who is not None else {}
    response = await client.get(f"{API}/works/{work_id}/lineage", params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def remix_notices(ctx: HubContext) -> list[Notification]:
    async with ctx.db.unit_of_work() as session:
        rows = await session.scalars(select(Notification).where(Notification.kind == "remix"))  # type: ignore[arg-type]
        return list(rows)


@BOTH_DATABASES
async def test_remix_opens_a_room_of_yours_seeded_from_the_work(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    work_id = await published(client, ctx, ada, title="Dusk")
    slug = await remix_room(client, bob, work_id)
    doc = await document(client, slug, bob)
    assert doc["prompt"] == "a lighthouse, dusk"
    assert doc["negative"] == "fog"
    params = doc["params"]
    assert params["model"] == "offline-sketch"
    assert params["size"] == "64x48"
    assert (params["steps"], params["seed"]) == (6, 42)
    assert "source_image" not in params
    room = (await client.get(f"{API}/rooms/{slug}", headers=bob.headers)).json()
    assert (room["title"], room["my_role"], room["visibility"]) == (
        "Remix of Dusk",
        "owner",
        "private",
    )
    async with ctx.db.unit_of_work() as session:
        row = await session.get(WorkRemixRoom, slug)
    assert row is not None
    assert (row.parent_work_id, row.remixer_id, row.source_upload_id) == (
        work_id,
        bob.user_id,
        None,
    )
    # Nothing is counted or told before a remix is published.
    assert (await work_row(ctx, work_id)).remix_count == 0
    assert await remix_notices(ctx) == []


@BOTH_DATABASES
async def test_remix_with_the_image_as_source_copies_it_into_your_uploads(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    work_id = await published(client, ctx, ada)
    slug = await remix_room(client, bob, work_id, use_image_as_source=True)
    source = (await document(client, slug, bob))["params"]["source_image"]
    assert set(source) == {"ref", "url", "width", "height"}
    assert (source["width"], source["height"]) == (64, 48)
    assert source["ref"].startswith(f"uploads/{bob.user_id}/")
    async with ctx.db.unit_of_work() as session:
        upload = await session.scalar(select(Upload).where(Upload.owner_id == bob.user_id))  # type: ignore[arg-type]
        assert upload is not None
        assert upload.key == source["ref"]
        # The generation request takes it as bob's source_image_key.
        assert await access_source_key(session, bob.actor, source["ref"]) == source["ref"]
        row = await session.get(WorkRemixRoom, slug)
    assert row is not None
    assert row.source_upload_id == upload.upload_id
    image = await client.get(source["url"])
    assert image.status_code == 200
    assert image.content.startswith(b"\x89PNG")


@BOTH_DATABASES
async def test_remix_refuses_drafts_hidden_deleted_unknown_works_and_bad_bodies(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    draft = await published(client, ctx, ada, status="draft")
    hidden = await published(client, ctx, ada, title="Hidden")
    await set_columns(ctx, hidden, hidden_at=utcnow())
    deleted = await published(client, ctx, ada, title="Deleted")
    assert (await client.delete(f"{API}/works/{deleted}", headers=ada.headers)).status_code == 204
    for work_id in (draft, hidden, deleted, 999_999):
        for who in (ada, bob):  # the author too: a draft or hidden work is not for remixing
            response = await remix(client, who, work_id)
            assert response.status_code == 404, (work_id, response.text)
            assert response.json()["error"]["code"] == "not_found"
    path = f"{API}/works/abc/remix"
    assert (await client.post(path, json={}, headers=bob.headers)).status_code == 404
    ok = await published(client, ctx, ada)
    path = f"{API}/works/{ok}/remix"
    for body in ({"use_image_as_source": "yes"}, {"use_image_as_source": None}, {"x": 1}):
        response = await client.post(path, json=body, headers=bob.headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    not_an_object = await client.post(path, json=[], headers=bob.headers)
    assert not_an_object.status_code == 400
    bad_json = await client.post(
        path, content=b"{nope", headers={**bob.headers, "content-type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert (await client.post(path, json={})).status_code == 401
    async with ctx.db.unit_of_work() as session:
        assert list(await session.scalars(select(WorkRemixRoom))) == []


@BOTH_DATABASES
async def test_remix_of_a_work_whose_images_are_gone_needs_no_source(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    work_id = await published(client, ctx, ada)
    image_id = (await client.get(f"{API}/works/{work_id}")).json()["images"][0]["image_id"]
    gone = await client.delete(f"{API}/images/{image_id}", headers=ada.headers)
    assert gone.status_code == 204
    refused = await remix(client, bob, work_id, use_image_as_source=True)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    await remix_room(client, bob, work_id)  # the prompt alone still works


@BOTH_DATABASES
async def test_a_remix_names_its_parent_and_counts_once_when_first_published(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    parent = await published(client, ctx, ada, title="Dusk")
    slug = await remix_room(client, bob, parent)
    child = await published(client, ctx, bob, room=slug, status="draft", title="Dawn")
    assert (await work_row(ctx, child)).parent_work_id == parent
    assert (await work_row(ctx, parent)).remix_count == 0
    for _ in range(2):  # publish, unpublish, publish again: one count, one notice
        publish = await client.post(f"{API}/works/{child}/publish", json={}, headers=bob.headers)
        assert publish.status_code == 200, publish.text
        assert publish.json()["parent_work_id"] == parent
        unpublish = await client.post(f"{API}/works/{child}/unpublish", headers=bob.headers)
        assert unpublish.status_code == 200
    assert (await work_row(ctx, parent)).remix_count == 1
    shown = (await client.get(f"{API}/works/{parent}")).json()
    assert shown["remix_count"] == 1
    notices = await remix_notices(ctx)
    assert [(n.recipient_id, n.actor_id, n.url) for n in notices] == [
        (ada.user_id, bob.user_id, f"/artwork/{child}/dawn")
    ]
    # The card on the feed shows it.
    feed = (await client.get(f"{API}/feed", params={"sort": "latest"})).json()
    card = next(c for c in feed["items"] if c["work_id"] == parent)
    assert card["remix_count"] == 1
    # A remix of your own work counts, and tells nobody.
    await remixed(client, ctx, ada, parent)
    assert (await work_row(ctx, parent)).remix_count == 2
    assert len(await remix_notices(ctx)) == 1


@BOTH_DATABASES
async def test_lineage_reads_both_ways_and_keeps_a_deleted_middle_work(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    cat = await veteran(ctx, "cat", "Cat")
    first = await published(client, ctx, ada, title="First")
    middle = await remixed(client, ctx, bob, first, title="Middle")
    last = await remixed(client, ctx, cat, middle, title="Last")
    chain = await lineage(client, last)
    assert [a["id"] for a in chain["ancestors"]] == [middle, first]
    assert chain["ancestors"][0]["title"] == "Middle"
    assert chain["ancestors"][0]["author"]["username"] == "bob"
    assert chain["ancestors"][0]["removed"] is False
    assert chain["ancestors"][0]["cover_url"]
    assert chain["remixes"] == []
    top = await lineage(client, first)
    assert top["ancestors"] == []
    assert [r["id"] for r in top["remixes"]] == [middle]
    assert top["remix_count"] == 1
    assert (await client.delete(f"{API}/works/{middle}", headers=bob.headers)).status_code == 204
    chain = await lineage(client, last)
    assert chain["ancestors"][0] == {"id": middle, "removed": True}
    assert chain["ancestors"][1]["title"] == "First"
    assert (await lineage(client, first))["remixes"] == [{"id": middle, "removed": True}]
    deleted = await client.get(f"{API}/works/{middle}/lineage")
    assert deleted.status_code == 404


@BOTH_DATABASES
async def test_lineage_pages_each_side_with_its_own_cursor(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    works = [await published(client, ctx, ada, title="Root")]
    for depth in range(3):  # Root <- r1 <- r2 <- r3
        works.append(await remixed(client, ctx, bob, works[-1], title=f"r{depth + 1}"))
    siblings = [await remixed(client, ctx, bob, works[1], title=f"s{i}") for i in range(2)]
    page = await lineage(client, works[-1], limit=2)
    assert [a["id"] for a in page["ancestors"]] == [works[2], works[1]]
    assert page["ancestors_next"] is not None
    more = await lineage(client, works[-1], limit=2, ancestors_cursor=page["ancestors_next"])
    assert [a["id"] for a in more["ancestors"]] == [works[0]]
    assert more["ancestors_next"] is None
    assert more["remixes"] == []
    assert more["remixes_next"] is None
    # r1 has three published remixes: r2, s0, s1 (newest first).
    page = await lineage(client, works[1], limit=2)
    assert [r["id"] for r in page["remixes"]] == [siblings[1], siblings[0]]
    more = await lineage(client, works[1], limit=2, remixes_cursor=page["remixes_next"])
    assert [r["id"] for r in more["remixes"]] == [works[2]]
    assert more["remixes_next"] is None
    assert more["ancestors"] == []
    assert page["remix_count"] == 3


BAD_LINEAGE_QUERIES: list[tuple[dict[str, str], int]] = [
    ({"ancestors_cursor": "!!"}, 400),
    ({"remixes_cursor": "bm9wZQ"}, 400),
    ({"ancestors_cursor": "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgWzAsIDFdXQ"}, 400),
    ({"limit": "0"}, 422),
    ({"limit": "101"}, 422),
    ({"limit": "x"}, 422),
    ({"side": "up"}, 422),
]


@BOTH_DATABASES
async def test_lineage_refuses_bad_queries(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    work_id = await published(client, ctx, ada)
    for params, status in BAD_LINEAGE_QUERIES:
        response = await client.get(f"{API}/works/{work_id}/lineage", params=params)
        assert response.status_code == status, (params, response.text)
        assert set(response.json()["error"]) >= {"code", "message"}


@BOTH_DATABASES
async def test_lineage_of_a_draft_is_its_authors_only(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    draft = await published(client, ctx, ada, status="draft")
    assert (await client.get(f"{API}/works/{draft}/lineage")).status_code == 404
    stranger = await client.get(f"{API}/works/{draft}/lineage", headers=bob.headers)
    assert stranger.status_code == 404
    assert (await lineage(client, draft, ada))["ancestors"] == []
    assert (await client.get(f"{API}/works/999999/lineage")).status_code == 404


@BOTH_DATABASES
async def test_artwork_page_shows_the_lineage_escaped_and_a_remix_form(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    evil = '<script>alert("x")</script>'
    parent = await published(client, ctx, ada, title=evil)
    child = await remixed(client, ctx, bob, parent, title=f"{evil} again")
    html = await artwork_html(client, child)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert 'id="lineage-ancestors"' in html
    assert f"/artwork/{parent}/" in html
    assert "Sign in to remix" in html  # a visitor is asked to sign in
    top = await artwork_html(client, parent)
    assert f"/artwork/{child}/" in top
    assert 'id="lineage-remixes"' in top
    signed_in = await artwork_html(client, parent, bob)
    assert f'action="/artwork/{parent}/remix"' in signed_in
    assert 'name="use_image_as_source"' in signed_in


@BOTH_DATABASES
async def test_the_remix_form_opens_the_new_room(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")
    work_id = await published(client, ctx, ada)
    response = await client.post(
        f"/artwork/{work_id}/remix", data={"use_image_as_source": "on"}, headers=bob.headers
    )
    assert response.status_code == 303, response.text
    slug = response.headers["location"].removeprefix("/r/")
    assert "source_image" in (await document(client, slug, bob))["params"]
    draft = await published(client, ctx, ada, status="draft")
    refused = await client.post(f"/artwork/{draft}/remix", data={}, headers=ada.headers)
    assert refused.status_code == 404


async def artwork_html(client: httpx.AsyncClient, work_id: int, who: Person | None = None) -> str:
    headers = who.headers if who is not None else {}
    moved = await client.get(f"/artwork/{work_id}", headers=headers)
    assert moved.status_code == 301
    page = await client.get(moved.headers["location"], headers=headers)
    assert page.status_code == 200
    return page.text


@BOTH_DATABASES
async def test_suggestions_draw_on_popular_published_works(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    bob = await veteran(ctx, "bob", "Bob")

    async def work(who: Person, title: str, prompt: str, status: str = "published") -> int:
        image = await generated(ctx, who, prompt=prompt)
        made = await created(client, who, image_ids=[image], title=title, status=status)
        return int(made["id"])

    plain = await work(ada, "Plain", "a lighthouse, {bright} seafoam glow")
    liked = await work(ada, "Liked", "a lighthouse, seafoam spray at dawn")
    await work(ada, "Draft", "a lighthouse, seafoam secret", status="draft")
    like = await client.put(f"{API}/works/{liked}/like", headers=bob.headers)
    assert like.status_code == 200
    await remixed(client, ctx, bob, plain, title="Remixed")  # a remix weighs more than a like
    assert ctx.prompts is not None
    await ctx.prompts.refresh_works()
    response = await client.get(f"{API}/prompts/suggest", params={"q": "seafo"})
    assert response.status_code == 200
    items = response.json()["items"]
    works = [(i["text"], i["work_id"], i["url"]) for i in items if i["kind"] == "work"]
    assert works == [("Plain", plain, f"/artwork/{plain}"), ("Liked", liked, f"/artwork/{liked}")]
    completions = {i["text"] for i in items if i["kind"] == "completion"}
    assert "seafoam spray at dawn" in completions
    assert not any("secret" in text for text in completions)  # drafts are nobody's suggestion
    # A work's braces are text, not variables: its words are found all the same.
    found = await client.get(f"{API}/prompts/suggest", params={"q": "bright glow"})
    assert [i["work_id"] for i in found.json()["items"] if i["kind"] == "work"] == [plain]
