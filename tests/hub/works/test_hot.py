"""The hot score: the formula, its refresh on activity and the periodic recompute."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import httpx
import pytest

from hub.context import HubContext
from hub.social.service import ReactionKind
from hub.works.hot import (
    HOT_DECAY_SECONDS,
    HOT_EPOCH,
    hot_score,
    recompute_hot,
    refresh_hot,
)
from hub.works.models import WorkStatus
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import people, person
from tests.hub.works.feed_helpers import BASE, hot_of, hours, make_work, react, set_columns
from tests.hub.works.work_helpers import API, created, generated, veteran, work_row


def test_the_formula_and_its_constants() -> None:
    assert hot_score(published_at=None, likes=100) == 0.0
    assert hot_score(published_at=HOT_EPOCH) == 0.0
    one_decay_later = HOT_EPOCH + timedelta(seconds=HOT_DECAY_SECONDS)
    assert hot_score(published_at=one_decay_later) == pytest.approx(1.0)
    # 9 likes (engagement 9, log10(1 + 9) = 1) are worth exactly one decay period of recency.
    assert hot_score(published_at=HOT_EPOCH, likes=9) == pytest.approx(1.0)
    assert hot_score(published_at=HOT_EPOCH, likes=1, favorites=2, comments=1, remixes=1) == (
        pytest.approx(math.log10(1 + 1 + 4 + 1 + 3))
    )
    # Naive datetimes are UTC; negative counters (never expected) count as zero.
    naive = datetime(2026, 1, 1)  # noqa: DTZ001
    assert hot_score(published_at=naive, likes=-5) == 0.0


def test_time_alone_never_reorders_two_works() -> None:
    """The decay is a common factor: whichever is ahead stays ahead as time passes, so stored
    scores need no periodic rewrite to stay in order."""
    old_popular = hot_score(published_at=BASE, likes=500)
    new_quiet = hot_score(published_at=BASE + hours(20), likes=2)
    assert old_popular > new_quiet
    assert hot_score(published_at=BASE + hours(40), likes=0) > old_popular


@BOTH_DATABASES
async def test_refresh_hot_follows_likes_and_state(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    fans = await people(ctx, "fan", 3)
    work = await make_work(ctx, ada)
    draft = await make_work(ctx, ada, status=WorkStatus.draft)
    start = await hot_of(ctx, work)
    assert start == pytest.approx(hot_score(published_at=BASE))
    assert await hot_of(ctx, draft) == 0.0
    for fan in fans:
        await react(ctx, fan, work)
    await react(ctx, fans[0], work, ReactionKind.favorite)
    assert await hot_of(ctx, work) == pytest.approx(
        hot_score(published_at=BASE, likes=3, favorites=1)
    )
    # Unpublished (back to draft): out of the hot order.
    await set_columns(ctx, work, status=WorkStatus.draft.value)
    async with ctx.db.unit_of_work() as session:
        await refresh_hot(session, work)
        await refresh_hot(session, 999_999)  # unknown ids are ignored
    assert await hot_of(ctx, work) == 0.0


@BOTH_DATABASES
async def test_recompute_repairs_scores_and_reports_progress(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    recent = [await make_work(ctx, ada, f"w{i}", published_at=BASE + hours(i)) for i in range(5)]
    old = await make_work(ctx, ada, "old", published_at=BASE - timedelta(days=30))
    # Counters moved by a path that did not refresh the score (and a stale score).
    for work_id in [*recent, old]:
        await set_columns(ctx, work_id, comment_count=99, hot_score=-1.0)
    calls: list[tuple[int, int]] = []
    since = BASE - timedelta(days=1)
    changed = await recompute_hot(
        ctx.db, published_since=since, batch_size=2, progress=lambda d, t: calls.append((d, t))
    )
    assert changed == 5
    assert calls == [(2, 5), (4, 5), (5, 5)]
    expected = hot_score(published_at=BASE + hours(4), comments=99)
    assert await hot_of(ctx, recent[4]) == pytest.approx(expected)
    assert await hot_of(ctx, old) == -1.0  # outside the window
    assert await recompute_hot(ctx.db, published_since=since) == 0  # nothing left to change
    assert await recompute_hot(ctx.db) == 1  # everything: the old one too
    assert await hot_of(ctx, old) > 0


@BOTH_DATABASES
async def test_the_periodic_repair_counts_the_discussion_threads_comments(
    ctx: HubContext, client: httpx.AsyncClient
) -> None:
    """Comments live in the forum, below works: the repair copies the thread's count onto the
    work and the hot score follows it."""
    ada = await veteran(ctx, "ada")
    bob = await veteran(ctx, "bob")
    image = await generated(ctx, ada)
    body = await created(client, ada, image_ids=[image], title="Dusk", status="published")
    before = await hot_of(ctx, body["id"])
    for text in ("Lovely light.", "Which model?"):
        response = await client.post(
            f"{API}/threads/{body['thread_id']}/comments", json={"body": text}, headers=bob.headers
        )
        assert response.status_code == 201, response.text
    assert await recompute_hot(ctx.db) == 1
    work = await work_row(ctx, body["id"])
    assert work.comment_count == 2
    assert work.hot_score > before
    assert work.hot_score == pytest.approx(hot_score(published_at=work.published_at, comments=2))
    assert await recompute_hot(ctx.db) == 0  # nothing moved since
