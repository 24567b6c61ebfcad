"""The start page's lists through HTTP: live rooms the viewer may enter (and not the private
rooms of others), hot works, the latest threads, and their empty states."""

from __future__ import annotations

import httpx
import pytest

from hub.collab.component import get_rooms
from hub.context import HubContext
from tests.helpers import BOTH_DATABASES
from tests.hub.forum.helpers import new_thread
from tests.hub.notifications.helpers import person
from tests.hub.works.feed_helpers import make_work, react


async def test_empty_states_for_a_visitor(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert "Nobody is in a room you can see right now." in page.text
    assert "No works published yet" in page.text
    assert "No threads yet." in page.text
    assert 'href="/studio"' not in page.text


@BOTH_DATABASES
async def test_hot_works_and_latest_threads_are_listed(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada", "Ada")
    fan = await person(ctx, "fan")
    calm = await make_work(ctx, ada, "Calm sea")
    loved = await make_work(ctx, ada, "Loved <storm>")
    await react(ctx, fan, loved)
    await new_thread(ctx.db, ada.actor, title="Koi at dusk")
    page = (await client.get("/")).text
    hot = page[page.index('id="hot-works"') : page.index('id="latest-threads"')]
    assert hot.index("Loved &lt;storm&gt;") < hot.index("Calm sea")
    assert f'href="/artwork/{calm}/' in hot
    assert "No works published yet" not in page
    threads = page[page.index('id="latest-threads"') :]
    assert "Koi at dusk" in threads
    assert "1 comment" in threads or "0 comments" in threads


async def test_live_rooms_are_those_the_viewer_may_enter(
    client: httpx.AsyncClient,
    ctx: HubContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = await person(ctx, "olga")
    rooms = {}
    for visibility in ("public", "private"):
        made = await client.post(
            "/api/v1/rooms",
            json={"title": f"{visibility} koi", "visibility": visibility},
            headers=owner.headers,
        )
        rooms[visibility] = made.json()["slug"]
    quiet = await client.post(
        "/api/v1/rooms", json={"title": "Quiet", "visibility": "public"}, headers=owner.headers
    )
    assert quiet.status_code == 201

    async def counts() -> dict[str, int]:
        return {rooms["public"]: 3, rooms["private"]: 2}

    monkeypatch.setattr(get_rooms(ctx), "live_counts", counts)
    page = (await client.get("/")).text
    live = page[
        page.index('id="live-rooms"') : page.index("</section>", page.index('id="live-rooms"'))
    ]
    assert "public koi" in live
    assert "3 people here" in live
    assert "private koi" not in live
    assert "Quiet" not in live
