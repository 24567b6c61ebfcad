"""``/images`` filters, layouts and selection through HTTP: the model and room menus hold the
viewer's own models and rooms, each filter narrows the page, the list layout keeps the filters,
the selection form publishes through ``/works/new`` and downloads through the zip endpoint with
the session's CSRF token; bad filter values are refused."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import update

from hub.storage.models import Image
from tests.helpers import BOTH_DATABASES
from tests.hub.accounts.helpers import signed_up
from tests.hub.storage.helpers import User, new_user, save_image

HTML = {"accept": "text/html"}


def _shown(page: str) -> list[str]:
    return re.findall(r'<li data-image-id="([^"]+)"', page)


def _options(page: str, name: str) -> list[str]:
    menu = re.search(rf'<select name="{name}">(.*?)</select>', page, re.S)
    assert menu is not None
    return re.findall(r'<option value="([^"]*)"', menu.group(1))


@BOTH_DATABASES
async def test_filters_narrow_the_library_and_menus_hold_my_values(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    bob = await new_user(client, "bob")
    await save_image(ctx, bob, model="bobs-model", room_id="bobs-room")
    csrf = await signed_up(client, "alice")
    me = (await client.get("/api/v1/me")).json()
    alice = User(int(me["user_id"]), "alice", {})
    sketch = await save_image(ctx, alice, model="offline-sketch", room_id="harbour-aaaa")
    paint = await save_image(ctx, alice, model="offline-paint")
    old = await save_image(ctx, alice, model="offline-sketch")
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(Image)
            .where(Image.image_id == old.image_id)  # type: ignore[arg-type]
            .values(created_at=datetime(2026, 1, 2, tzinfo=UTC))
        )

    page = (await client.get("/images", headers=HTML)).text
    assert _shown(page) == [paint.image_id, sketch.image_id, old.image_id]
    assert _options(page, "model") == ["", "offline-paint", "offline-sketch"]
    assert _options(page, "room") == ["", "harbour-aaaa"]
    assert f'data-csrf="{csrf}"' in page
    assert 'action="/works/new"' in page

    by_model = await client.get("/images?model=offline-sketch", headers=HTML)
    assert _shown(by_model.text) == [sketch.image_id, old.image_id]
    assert '<option value="offline-sketch" selected>' in by_model.text
    by_room = await client.get("/images?room=harbour-aaaa", headers=HTML)
    assert _shown(by_room.text) == [sketch.image_id]
    recent = await client.get("/images?since=2026-06-01", headers=HTML)
    assert old.image_id not in _shown(recent.text)
    assert 'value="2026-06-01"' in recent.text
    early = await client.get("/images?until=2026-06-01", headers=HTML)
    assert _shown(early.text) == [old.image_id]
    none = await client.get("/images?model=bobs-model", headers=HTML)
    assert _shown(none.text) == []
    assert "No images match these filters." in none.text

    listed = await client.get("/images?view=list&model=offline-sketch", headers=HTML)
    assert 'class="library-list"' in listed.text
    assert _shown(listed.text) == [sketch.image_id, old.image_id]
    assert '<input type="hidden" name="view" value="list">' in listed.text
    assert 'href="/images?model=offline-sketch"' in listed.text  # back to the grid, same filter


async def test_the_selection_publishes_and_downloads(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client, "alice")
    me = (await client.get("/api/v1/me")).json()
    alice = User(int(me["user_id"]), "alice", {})
    first = await save_image(ctx, alice, prompt="first")
    second = await save_image(ctx, alice, prompt="second")
    page = (await client.get("/images", headers=HTML)).text
    assert page.count('type="checkbox" name="image"') == 2

    # The form's GET, as the browser sends it with both boxes ticked.
    publish = await client.get(
        "/works/new", params=[("image", first.image_id), ("image", second.image_id)]
    )
    assert publish.status_code == 200
    assert len(re.findall(r'name="image"[^>]*checked', publish.text)) == 2

    refused = await client.post("/api/v1/images/download", json={"image_ids": [first.image_id]})
    assert refused.status_code == 403
    zipped = await client.post(
        "/api/v1/images/download",
        json={"image_ids": [first.image_id, second.image_id]},
        headers={"x-csrf-token": csrf},
    )
    assert zipped.status_code == 200, zipped.text
    assert len(zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()) == 2


async def test_bad_filters_are_refused(client: httpx.AsyncClient) -> None:
    await signed_up(client, "alice")
    for query in ("since=yesterday", "until=2026-13-01", "model=" + "m" * 65, "color=red"):
        response = await client.get(f"/images?{query}", headers=HTML)
        assert response.status_code == 422, query
        assert response.headers["content-type"].startswith("text/html")
    # The layout is not a filter: anything but "list" is the grid.
    odd = await client.get("/images?view=x", headers=HTML)
    assert odd.status_code == 200
    assert 'aria-current="page">Grid' in odd.text
