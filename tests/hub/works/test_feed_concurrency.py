"""Feeds under concurrent requests: likes racing on one work leave a hot score that matches the
final counts, and a burst of visitors on a cold page costs one computation."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from hub.context import HubContext
from hub.works.hot import hot_score
from hub.works.models import Work
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import people, person
from tests.hub.works.feed_helpers import make_work, react


@BOTH_DATABASES
async def test_racing_likes_leave_the_score_of_the_final_count(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    fans = await people(ctx, "fan", 20)
    work = await make_work(ctx, ada)
    # Each like moves the counter and refreshes the score in its own transaction, all at once.
    await asyncio.gather(*(react(ctx, fan, work) for fan in fans))
    async with ctx.db.unit_of_work() as session:
        row = await session.get(Work, work)
        assert row is not None
    assert row.like_count == 20
    assert row.hot_score == pytest.approx(hot_score(published_at=row.published_at, likes=20))


@BOTH_DATABASES
async def test_a_burst_of_visitors_on_a_cold_page_computes_it_once(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    for i in range(3):
        await make_work(ctx, ada, f"w{i}")
    assert ctx.feeds is not None
    cache = ctx.feeds.cache
    misses = cache.misses
    responses = await asyncio.gather(*(client.get("/api/v1/feed?sort=hot") for _ in range(30)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    # One miss for the JSON bytes and one for the page they are made of.
    assert cache.misses - misses == 2
    pages = await asyncio.gather(
        *(client.get("/feed?sort=hot", headers={"accept": "text/html"}) for _ in range(30))
    )
    assert {r.status_code for r in pages} == {200}
    assert cache.misses - misses == 3  # the HTML, made from the cached page
