"""The artwork page, its author's buttons and the make-a-work form, through HTTP on both
databases: what anonymous visitors and search engines read, 301 on a wrong slug, drafts, and an
XSS corpus through every field the page shows."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from sqlalchemy import select

from hub.context import HubContext
from hub.storage.models import Image
from hub.works.models import Work
from tests.helpers import BOTH_DATABASES
from tests.hub.accounts.helpers import signed_up
from tests.hub.forum.test_xss import PAYLOADS, inspect
from tests.hub.works.work_helpers import (
    API,
    UserId,
    created,
    generated,
    join,
    make_room,
    png,
    room_writer,
    veteran,
    work_row,
)

HTML = {"accept": "text/html"}
# Elements of the artwork page and the form beyond those of the forum's pages.
OUR_TAGS = {"<figure>", "<dl>", "<dt>", "<dd>", "<ins>", "<del>", "<b>", "<fieldset>", "<legend>",
            "<select>", "<option>"}  # fmt: skip


def problems(page: str) -> list[str]:
    return [p for p in inspect(page).problems if p not in OUR_TAGS]


def jsonld(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert match, "no JSON-LD"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def meta(page: str, key: str) -> str:
    match = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', page)
    assert match, f"no {key}"
    return match.group(1)


@BOTH_DATABASES
async def test_an_anonymous_visitor_reads_the_artwork_page(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await veteran(ctx, "ada", "Ada"), await veteran(ctx, "bob", "Bob")
    slug = await make_room(client, ada)
    await join(client, ada, slug, bob)
    writer = room_writer(ctx, slug)
    await writer.type(ada, "a harbour")
    await writer.type(bob, " in the rain", at=None)
    image = await generated(ctx, bob, room=slug, prompt="a harbour in the rain")
    body = await created(
        client,
        ada,
        image_ids=[image],
        title="Harbour",
        description="Wet **stones**.",
        status="published",
    )
    response = await client.get(body["url"], headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert "<title>Harbour · Creation Hub</title>" in page
    assert meta(page, "description") == "Wet stones."
    canonical = f"http://testserver{body['url']}"
    assert f'<link rel="canonical" href="{canonical}">' in page
    assert meta(page, "og:url") == canonical
    assert meta(page, "og:type") == "article"
    assert meta(page, "twitter:card") == "summary_large_image"
    cover = meta(page, "og:image")
    assert cover.startswith("http://testserver/")
    assert cover.endswith(".png")
    assert meta(page, "twitter:image") == cover
    assert "<strong>stones</strong>" in page
    data = jsonld(page)
    assert data["@type"] == "VisualArtwork"
    assert data["name"] == "Harbour"
    assert data["url"] == canonical
    assert data["image"]["@type"] == "ImageObject"
    assert data["image"]["contentUrl"] == cover
    assert data["image"]["caption"] == "a harbour in the rain"
    assert {c["name"] for c in data["creator"]} == {"Ada", "Bob"}
    assert data["author"]["url"] == "http://testserver/u/ada"
    # The timeline, in order, with who wrote what; the people who made it.
    timeline = page[page.index('id="timeline"') : page.index('id="contributors"')]
    assert timeline.index("Ada") < timeline.index("<ins>a harbour</ins>")
    assert timeline.index("<ins> in the rain</ins>") > timeline.index("Bob")
    assert 'href="/u/bob"' in page[page.index('id="contributors"') :]
    # Counts but no buttons for visitors; a way to sign in instead.
    assert 'id="like-count">0<' in page
    assert 'id="like"' not in page
    assert f"/login?next={body['url']}" in page
    assert problems(page) == []
    # A view was counted (the author's own visits are not).
    await client.get(body["url"], headers={**HTML, **ada.headers})
    assert (await work_row(ctx, body["id"])).view_count == 1


@BOTH_DATABASES
async def test_wrong_slugs_move_permanently_to_the_canonical_url(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada")
    body = await created(
        client, ada, image_ids=[await generated(ctx, ada)], title="Tide Pool", status="published"
    )
    work_id = body["id"]
    for wrong in (
        f"/artwork/{work_id}/wrong",
        f"/artwork/{work_id}",
        f"/artwork/{work_id}/TIDE-pool",
    ):
        response = await client.get(wrong, headers=HTML)
        assert response.status_code == 301, wrong
        assert response.headers["location"] == f"/artwork/{work_id}/tide-pool"
    chinese = await created(
        client, ada, image_ids=[await generated(ctx, ada)], title="潮汐", status="published"
    )
    assert chinese["url"] == f"/artwork/{chinese['id']}/work"
    assert (await client.get(chinese["url"], headers=HTML)).status_code == 200


@BOTH_DATABASES
async def test_a_draft_page_is_its_authors_and_kept_out_of_indexes(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await veteran(ctx, "ada"), await veteran(ctx, "bob")
    draft = await created(client, ada, image_ids=[await generated(ctx, ada)], title="Secret")
    for headers in (bob.headers, {}):
        response = await client.get(draft["url"], headers={**HTML, **headers})
        assert response.status_code == 404
        assert "Secret" not in response.text
        assert (
            await client.get(f"/artwork/{draft['id']}", headers={**HTML, **headers})
        ).status_code == 404
    page = await client.get(draft["url"], headers={**HTML, **ada.headers})
    assert page.status_code == 200
    assert '<meta name="robots" content="noindex">' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert 'id="publish"' in page.text


async def cookie_user(client: httpx.AsyncClient, username: str) -> tuple[UserId, str]:
    """Signs ``username`` up in ``client``, which keeps the session cookie; the user and the
    session's CSRF token."""
    csrf = await signed_up(client, username)
    me = (await client.get(f"{API}/me")).json()
    return UserId(int(me["user_id"])), csrf


@BOTH_DATABASES
async def test_the_author_publishes_unpublishes_and_deletes_from_the_page(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, csrf = await cookie_user(client, "ada")
    image = await generated(ctx, ada)
    made = await client.post(
        f"{API}/works", json={"image_ids": [image], "title": "Cove"}, headers={"x-csrf-token": csrf}
    )
    assert made.status_code == 201, made.text
    work_id, url = made.json()["id"], made.json()["url"]
    # Without the form's CSRF token nothing happens.
    refused = await client.post(f"/artwork/{work_id}/publish", data={}, headers=HTML)
    assert refused.status_code == 403
    assert (await work_row(ctx, work_id)).status == "draft"
    published = await client.post(f"/artwork/{work_id}/publish", data={"csrf_token": csrf})
    assert published.status_code == 303
    assert published.headers["location"] == url
    assert (await work_row(ctx, work_id)).status == "published"
    page = (await client.get(url, headers=HTML)).text
    assert 'id="unpublish"' in page
    assert 'id="like"' in page  # signed in: the buttons
    assert f'data-csrf="{csrf}"' in page
    await client.post(f"/artwork/{work_id}/unpublish", data={"csrf_token": csrf})
    assert (await work_row(ctx, work_id)).status == "draft"
    deleted = await client.post(f"/artwork/{work_id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert (await work_row(ctx, work_id)).deleted_at is not None
    assert (await client.get(url, headers=HTML)).status_code == 404


@BOTH_DATABASES
async def test_the_form_offers_a_rooms_images_and_makes_a_work(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    bob = await veteran(ctx, "bob")
    ada, csrf = await cookie_user(client, "ada")
    slug = await make_room(client, bob, "Harbour", visibility="public")
    first = await generated(ctx, bob, room=slug, prompt="boats")
    second = await generated(ctx, bob, room=slug, prompt="more boats")
    # Ada watches the public room: she sees its images but may not publish them.
    form = await client.get("/works/new", params={"room": slug, "image": first}, headers=HTML)
    assert form.status_code == 200
    assert f'value="{first}" checked' in form.text
    assert f'value="{second}">' in form.text
    fields = {"csrf_token": csrf, "room": slug, "image": [first], "title": "Boats"}
    refused = await client.post("/works/new", data=fields)
    assert refused.status_code == 403
    # Her own images are offered without a room, and become a work.
    mine = await generated(ctx, ada, prompt="my boat")
    form = await client.get("/works/new", params={"image": mine}, headers=HTML)
    assert f'value="{mine}" checked' in form.text
    assert first not in form.text
    fields = {"csrf_token": csrf, "image": [mine], "title": "My boat", "status": "published"}
    made = await client.post("/works/new", data=fields)
    assert made.status_code == 303
    async with ctx.db.unit_of_work() as session:
        work = await session.scalar(select(Work).where(Work.title == "My boat"))  # type: ignore[arg-type]
    assert work is not None
    assert made.headers["location"] == f"/artwork/{work.work_id}/my-boat"
    assert work.status == "published"
    assert work.thread_id is not None


@BOTH_DATABASES
async def test_the_form_takes_an_upload_with_its_prompt_and_shows_mistakes(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, csrf = await cookie_user(client, "ada")
    fields = {"csrf_token": csrf, "title": "Owl", "prompt": "an owl", "model": "pencil"}
    files = {"file": ("owl.png", png((40, 30)), "image/png")}
    made = await client.post("/works/new", data=fields, files=files)
    assert made.status_code == 303, made.text
    async with ctx.db.unit_of_work() as session:
        image = await session.scalar(select(Image).where(Image.owner_id == ada.user_id))  # type: ignore[arg-type]
    assert image is not None
    assert (image.prompt, image.model, image.width) == ("an owl", "pencil", 40)
    # No image and no title: the form again, saying what is wrong, with what was typed.
    again = await client.post(
        "/works/new", data={"csrf_token": csrf, "title": "", "description": "kept <b>"}
    )
    assert again.status_code == 422
    assert 'id="form-errors"' in again.text
    assert "kept &lt;b&gt;" in again.text
    anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with anonymous:
        redirect = await anonymous.get("/works/new", headers=HTML)
    assert redirect.status_code == 303
    assert redirect.headers["location"].startswith("/login?next=/works/new")


@BOTH_DATABASES
async def test_payloads_are_inert_on_the_artwork_page(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    """Every field the page shows holds a payload: the title, the Markdown description, the
    prompts, the model and parameters of an upload, the room's prompt history and the people's
    names."""
    ada = await veteran(ctx, "ada", PAYLOADS[1][:64])
    bob = await veteran(ctx, "bob", PAYLOADS[2][:64])
    slug = await make_room(client, ada)
    await join(client, ada, slug, bob)
    writer = room_writer(ctx, slug)
    urls = []
    for i, payload in enumerate(PAYLOADS):
        line = " ".join(payload.split())
        await writer.type(ada if i % 2 else bob, payload)
        await writer.negative(ada, line)
        image = await generated(ctx, ada, room=slug, prompt=payload, negative=line, model=line[:64])
        body = await created(
            client,
            ada,
            image_ids=[image],
            title=line[:200] or "x",
            description=payload,
            status="published",
        )
        urls.append(body["url"])
    upload = await client.post(
        f"{API}/uploads", files={"file": ("x.png", png(), "image/png")}, headers=ada.headers
    )
    source = {
        "upload_id": upload.json()["upload_id"],
        "prompt": PAYLOADS[0],
        "model": PAYLOADS[3][:64],
        "params": {"sampler": PAYLOADS[5][:200], "note": PAYLOADS[16][:200]},
    }
    urls.append((await created(client, ada, uploads=[source], status="published"))["url"])
    for url in urls:
        response = await client.get(url, headers=HTML)
        assert response.status_code == 200, url
        assert problems(response.text) == [], url
        assert "<script>alert(1)" not in response.text
        jsonld(response.text)  # still JSON: nothing broke out of the script element
    work = (await client.get(f"{API}/works/{urls[0].split('/')[2]}")).json()
    assert work["title"] == PAYLOADS[0]  # stored as written, escaped when shown


@BOTH_DATABASES
async def test_publish_is_reachable_from_the_room_and_from_my_images(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await veteran(ctx, "ada"), await veteran(ctx, "bob")
    slug = await make_room(client, ada, visibility="public")
    room_page = await client.get(f"/r/{slug}", headers={**HTML, **ada.headers})
    assert f'href="/works/new?room={slug}" id="publish-work"' in room_page.text
    watcher = await client.get(f"/r/{slug}", headers={**HTML, **bob.headers})
    assert watcher.status_code == 200
    assert 'id="publish-work"' not in watcher.text
    image = await generated(ctx, ada)
    library = await client.get("/images", headers={**HTML, **ada.headers})
    assert f'href="/works/new?image={image}"' in library.text
