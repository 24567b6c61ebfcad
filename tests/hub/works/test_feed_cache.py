"""The public feed cache and the feeds component's hot-score repair."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest

from hub.context import HubContext
from hub.db import utcnow
from hub.works.component import FeedsComponent
from hub.works.feed_cache import FeedCache, bump_feed_epoch
from hub.works.hot import hot_score
from hub.works.models import Work
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.notifications.helpers import person
from tests.hub.works.feed_helpers import hot_of, make_work, react, set_columns

FEED = "/api/v1/feed"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def counting(value: str = "v") -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def compute() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)
        return f"{value}{len(calls)}"

    return calls, compute


async def test_entries_live_for_the_ttl_and_until_the_epoch_moves() -> None:
    clock = Clock()
    cache = FeedCache(5.0, clock=clock)
    _calls, compute = counting()
    assert await cache.get("k", compute) == "v1"
    clock.now += 4.9
    assert await cache.get("k", compute) == "v1"
    clock.now += 0.2
    assert await cache.get("k", compute) == "v2"
    await bump_feed_epoch()
    assert await cache.get("k", compute) == "v3"
    assert await cache.get("other", compute) == "v4"
    assert (cache.hits, cache.misses) == (1, 4)
    off = FeedCache(0)
    assert [await off.get("k", compute) for _ in range(2)] == ["v5", "v6"]


async def test_stale_ok_answers_at_once_and_refreshes_behind() -> None:
    clock = Clock()
    cache = FeedCache(5.0, clock=clock)
    calls, compute = counting()
    assert await cache.get("k", compute, stale_ok=True) == "v1"  # nothing yet: computed
    clock.now += 6
    # Expired: the old value now, one refresh behind however many ask meanwhile.
    assert await cache.get("k", compute, stale_ok=True) == "v1"
    assert await cache.get("k", compute, stale_ok=True) == "v1"
    assert await cache.get("k", compute) == "v2"  # waits for that refresh, computes nothing
    assert len(calls) == 2
    assert cache.stale == 2
    # An epoch bump is never answered stale: this process's own writes show at once.
    await bump_feed_epoch()
    assert await cache.get("k", compute, stale_ok=True) == "v3"


async def test_a_failed_background_refresh_keeps_the_stale_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    cache = FeedCache(5.0, clock=clock)
    _calls, compute = counting()
    await cache.get("k", compute)

    async def failing() -> str:
        raise RuntimeError("database down")

    clock.now += 6
    assert await cache.get("k", failing, stale_ok=True) == "v1"
    await asyncio.sleep(0.01)
    assert "refreshing a feed page failed" in caplog.text
    assert await cache.get("k", compute, stale_ok=True) == "v1"  # tried again, behind
    await asyncio.sleep(0.05)
    assert await cache.get("k", compute, stale_ok=True) == "v2"


async def test_closing_cancels_background_refreshes() -> None:
    clock = Clock()
    cache = FeedCache(5.0, clock=clock)
    _calls, compute = counting()
    await cache.get("k", compute)
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(60)
        return "late"

    clock.now += 6
    await cache.get("k", slow, stale_ok=True)
    await started.wait()
    await cache.aclose()
    assert await cache.get("k", compute, stale_ok=True) == "v1"  # still the old one, refreshing


async def test_concurrent_misses_compute_once() -> None:
    cache = FeedCache(5.0)
    calls, compute = counting()
    values = await asyncio.gather(*(cache.get("k", compute) for _ in range(20)))
    assert values == ["v1"] * 20
    assert len(calls) == 1


async def test_a_failed_computation_reaches_its_waiters_and_is_not_kept() -> None:
    cache = FeedCache(5.0)
    attempts: list[int] = []

    async def failing() -> str:
        attempts.append(1)
        await asyncio.sleep(0.01)
        raise RuntimeError("database down")

    results = await asyncio.gather(
        *(cache.get("k", failing) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert len(attempts) == 1
    with pytest.raises(RuntimeError):
        await cache.get("k", failing)
    assert len(attempts) == 2


async def test_waiters_of_a_cancelled_computation_compute_for_themselves() -> None:
    cache = FeedCache(5.0)
    _calls, compute = counting()
    first = asyncio.create_task(cache.get("k", compute))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get("k", compute))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == "v2"
    assert first.cancelled()


async def test_the_cache_keeps_at_most_max_entries() -> None:
    cache = FeedCache(5.0, max_entries=2)
    calls, compute = counting()
    for key in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" comes
        await cache.get(key, compute)
    await cache.get("a", compute)
    assert len(calls) == 3
    await cache.get("b", compute)
    assert len(calls) == 4


@BOTH_DATABASES
async def test_public_pages_are_shared_and_follow_this_process_writes(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await person(ctx, "ada"), await person(ctx, "bob")
    work = await make_work(ctx, ada, "first")
    before = (await client.get(FEED)).json()
    # A change that no service announced (refresh_hot) stays unseen for the TTL...
    await set_columns(ctx, work, title="renamed quietly")
    assert (await client.get(FEED)).json() == before
    # ...signed-in readers get the cached cards with their own likes...
    await react(ctx, bob, work)  # refresh_hot: this process's pages go stale at once
    mine = (await client.get(FEED, headers=bob.headers)).json()["items"]
    assert (mine[0]["title"], mine[0]["liked"], mine[0]["like_count"]) == (
        "renamed quietly",
        True,
        1,
    )
    anonymous = (await client.get(FEED)).json()["items"]
    assert (anonymous[0]["liked"], anonymous[0]["like_count"]) == (False, 1)
    # ...and publishing shows at once.
    newer = await make_work(ctx, ada, "second", published_at=utcnow())
    assert (await client.get(FEED)).json()["items"][0]["work_id"] == newer
    assert ctx.feeds is not None
    assert ctx.feeds.cache.hits >= 1


@BOTH_DATABASES
async def test_the_component_repairs_recent_hot_scores_periodically(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    recent = await make_work(ctx, ada, "recent", published_at=utcnow() - timedelta(hours=1))
    old = await make_work(ctx, ada, "old", published_at=utcnow() - timedelta(days=30))
    for work_id in (recent, old):
        await set_columns(ctx, work_id, comment_count=9, hot_score=0.0)
    settings = ctx.settings.model_copy(update={"hot_refresh_interval": 0.05})
    feeds = FeedsComponent(settings, ctx.db, FeedCache(0))
    await feeds.start()
    try:
        await eventually(lambda: hot_of(ctx, recent), message="the recent score repaired")
    finally:
        await feeds.stop()
    async with ctx.db.unit_of_work() as session:
        row = await session.get(Work, recent)
        assert row is not None
        assert row.hot_score == pytest.approx(hot_score(published_at=row.published_at, comments=9))
    assert await hot_of(ctx, old) == 0.0  # older than HUB_HOT_REFRESH_DAYS
    assert await feeds.refresh_recent() == 0
