"""GET /api/v1/feed and a person's works and favorites, through HTTP on both databases."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hub.context import HubContext
from hub.db import utcnow
from hub.social.service import ReactionKind, follow
from hub.works.feeds import FeedSort, encode_feed_cursor
from hub.works.models import WorkStatus
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import Person, people, person
from tests.hub.works.feed_helpers import BASE, hours, make_work, react, set_columns

FEED = "/api/v1/feed"


async def walk(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, **params: Any
) -> list[list[int]]:
    """Every page of a list, following next_cursor; the ids of each page."""
    pages: list[list[int]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["work_id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50


def flat(pages: list[list[int]]) -> list[int]:
    return [work_id for page in pages for work_id in page]


async def follows(ctx: HubContext, who: Person, whom: Person) -> None:
    async with ctx.db.unit_of_work() as session:
        await follow(session, who.actor, whom.username, True, limiter=None)


@BOTH_DATABASES
async def test_latest_pages_through_ties_on_the_publish_time(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    # Three works share one instant and two another: the work id orders them.
    times = [BASE, BASE + hours(1), BASE + hours(1), BASE + hours(1), BASE - hours(1)]
    times += [BASE, BASE + hours(2)]
    made = [await make_work(ctx, ada, f"w{i}", published_at=t) for i, t in enumerate(times)]
    expected = [w for _, w in sorted(zip(times, made, strict=True), reverse=True)]
    pages = await walk(client, FEED, limit=2)
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert flat(pages) == expected
    assert flat(await walk(client, FEED, sort="latest", limit=100)) == expected
    assert flat(await walk(client, FEED, limit=7)) == expected


@BOTH_DATABASES
async def test_hot_orders_by_score_and_pages_through_equal_scores(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    fans = await people(ctx, "fan", 3)
    quiet = [await make_work(ctx, ada, f"q{i}") for i in range(4)]  # equal scores
    loved = await make_work(ctx, ada, "loved", published_at=BASE - hours(10))
    newer = await make_work(ctx, ada, "newer", published_at=BASE + hours(30))
    for fan in fans:
        await react(ctx, fan, loved)
    # loved: 3 likes (log10 4 = 0.6 periods, 12.5 h each, about 7.5 h) but 10 h older: behind
    # the quiet ones; a favorite more (engagement 5) puts it ahead.
    expected = [newer, *sorted(quiet, reverse=True), loved]
    assert flat(await walk(client, FEED, sort="hot", limit=2)) == expected
    await react(ctx, fans[0], loved, ReactionKind.favorite)
    await react(ctx, fans[1], loved, ReactionKind.favorite)
    expected = [newer, loved, *sorted(quiet, reverse=True)]
    assert flat(await walk(client, FEED, sort="hot", limit=3)) == expected
    body = (await client.get(FEED, params={"sort": "hot", "limit": 2})).json()
    assert body["items"][1]["like_count"] == 3
    assert body["items"][1]["favorite_count"] == 2


@BOTH_DATABASES
async def test_categories_narrow_every_sort(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob")
    portraits = [
        await make_work(ctx, ada, f"p{i}", category="portraits", published_at=BASE + hours(i))
        for i in range(3)
    ]
    await make_work(ctx, bob, "landscape", category="landscapes")
    await make_work(ctx, bob, "none")
    await follows(ctx, bob, ada)
    for sort in ("latest", "hot"):
        pages = await walk(client, FEED, sort=sort, category="portraits", limit=2)
        assert flat(pages) == portraits[::-1]
    following = await walk(
        client, FEED, headers=await _headers(bob), sort="following", category="portraits"
    )
    assert flat(following) == portraits[::-1]
    assert flat(await walk(client, FEED, category="nothing-here")) == []


async def _headers(who: Person) -> dict[str, str]:
    return who.headers


@BOTH_DATABASES
async def test_following_lists_the_followed_and_needs_sign_in(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob, cy = await person(ctx, "ada"), await person(ctx, "bob"), await person(ctx, "cyd")
    ada_works = [await make_work(ctx, ada, f"a{i}", published_at=BASE + hours(i)) for i in range(3)]
    cy_work = await make_work(ctx, cy, "c", published_at=BASE + hours(1))
    await make_work(ctx, bob, "own", published_at=BASE + hours(5))
    anonymous = await client.get(FEED, params={"sort": "following"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    assert flat(await walk(client, FEED, headers=bob.headers, sort="following")) == []
    await follows(ctx, bob, ada)
    await follows(ctx, bob, cy)
    pages = await walk(client, FEED, headers=bob.headers, sort="following", limit=2)
    # cy's work and ada's second share their publish time: the later id comes first.
    assert flat(pages) == [ada_works[2], cy_work, ada_works[1], ada_works[0]]


@BOTH_DATABASES
async def test_drafts_deleted_and_hidden_works_are_never_listed(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await person(ctx, "ada"), await person(ctx, "bob")
    shown = await make_work(ctx, ada, "shown", category="portraits")
    draft = await make_work(ctx, ada, "draft", status=WorkStatus.draft, category="portraits")
    deleted = await make_work(ctx, ada, "deleted", category="portraits")
    hidden = await make_work(ctx, ada, "hidden", category="portraits")
    await set_columns(ctx, deleted, deleted_at=utcnow())
    await set_columns(ctx, hidden, hidden_at=utcnow())
    for work_id in (shown, deleted, hidden):
        await react(ctx, ada, work_id, ReactionKind.favorite)
    await follows(ctx, bob, ada)
    lists = [
        await walk(client, FEED, sort="latest"),
        await walk(client, FEED, sort="hot", category="portraits"),
        await walk(client, FEED, headers=bob.headers, sort="following"),
        await walk(client, "/api/v1/users/ada/works"),
        await walk(client, "/api/v1/users/ada/favorites"),
        # The author sees no draft in public lists either: drafts live on their own pages.
        await walk(client, FEED, headers=ada.headers),
    ]
    for pages in lists:
        assert flat(pages) == [shown]
    assert draft not in flat(lists[0])


@pytest.mark.parametrize(
    "query",
    [
        "cursor=not-a-cursor!",
        "cursor=WyJ4Il0",  # ["x"]
        "cursor=" + "A" * 300,
        "sort=bogus",
        "limit=0",
        "limit=101",
        "limit=ten",
        "category=Not%20A%20Slug",
    ],
)
@BOTH_DATABASES
async def test_bad_queries_are_refused(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"{FEED}?{query}")
    assert response.status_code in (400, 422), response.text
    code = response.json()["error"]["code"]
    assert code == ("bad_request" if query.startswith("cursor") else "validation_error")


def _raw_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@BOTH_DATABASES
async def test_cursors_the_hub_did_not_make_are_400(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    for i in range(3):
        await make_work(ctx, ada, f"w{i}")
    hot_cursor = (await client.get(FEED, params={"sort": "hot", "limit": 1})).json()["next_cursor"]
    latest = encode_feed_cursor(FeedSort.latest, BASE, 5)
    bad = [
        ("latest", hot_cursor),  # another feed's cursor
        ("hot", latest),
        ("latest", _raw_cursor(["latest", "2026-12-01T12:00:00", 5])),  # no zone
        ("latest", _raw_cursor(["latest", "yesterday", 5])),
        ("latest", _raw_cursor(["latest", BASE.isoformat(), "5"])),
        ("latest", _raw_cursor(["latest", BASE.isoformat(), True])),
        ("latest", _raw_cursor(["latest", BASE.isoformat(), 0])),
        ("latest", _raw_cursor(["latest", BASE.isoformat(), 2**70])),
        ("hot", _raw_cursor(["hot", "1.5", 5])),
        ("hot", _raw_cursor(["hot", None, 5])),
        ("hot", _raw_cursor(["hot", 1.5])),
        ("hot", _raw_cursor({"hot": 1})),
        ("hot", base64.urlsafe_b64encode(b'["hot", NaN, 5]').decode().rstrip("=")),
        ("hot", base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("=")),
    ]
    for sort, cursor in bad:
        response = await client.get(FEED, params={"sort": sort, "cursor": cursor})
        assert response.status_code == 400, (sort, cursor, response.text)
        assert response.json()["error"]["code"] == "bad_request"
    for path in ("/api/v1/users/ada/works", "/api/v1/users/ada/favorites"):
        response = await client.get(path, params={"cursor": "WyJ4Il0"})
        assert response.status_code == 400
    # A cursor it made works, also one whose key no work has any more.
    assert (await client.get(FEED, params={"cursor": latest})).status_code == 200


@BOTH_DATABASES
async def test_anonymous_visitors_read_and_members_see_their_likes(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await person(ctx, "ada", "Ada"), await person(ctx, "bob")
    liked = await make_work(ctx, ada, "liked", published_at=BASE + hours(1))
    kept = await make_work(ctx, ada, "kept")
    await react(ctx, bob, liked)
    await react(ctx, bob, kept, ReactionKind.favorite)
    anonymous = (await client.get(FEED)).json()["items"]
    assert [(c["liked"], c["favorited"]) for c in anonymous] == [(False, False), (False, False)]
    assert anonymous[0]["author"] == {
        "user_id": ada.user_id,
        "username": "ada",
        "display_name": "Ada",
        "avatar_url": "/api/v1/users/ada/avatar.svg",
        "url": "/u/ada",
    }
    assert anonymous[0]["url"] == f"/artwork/{liked}/liked"
    mine = (await client.get(FEED, headers=bob.headers)).json()["items"]
    assert [(c["liked"], c["favorited"]) for c in mine] == [(True, False), (False, True)]
    bad_token = await client.get(FEED, headers={"authorization": "Bearer nope"})
    assert bad_token.status_code == 401


@BOTH_DATABASES
async def test_a_persons_works_and_favorites(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada, bob = await person(ctx, "ada"), await person(ctx, "bob")
    works = [await make_work(ctx, ada, f"a{i}", published_at=BASE + hours(i)) for i in range(5)]
    await make_work(ctx, bob, "bobs")
    for work_id in (works[1], works[3], works[0]):
        await react(ctx, bob, work_id, ReactionKind.favorite)
    assert flat(await walk(client, "/api/v1/users/ada/works", limit=2)) == works[::-1]
    assert flat(await walk(client, "/api/v1/users/ADA/works", limit=2)) == works[::-1]
    favorites = await walk(client, "/api/v1/users/bob/favorites", limit=2)
    assert flat(favorites) == [works[0], works[3], works[1]]
    assert flat(await walk(client, "/api/v1/users/ada/favorites")) == []
    # Names no account can have, "%00" among them (Postgres refuses NUL in a text parameter).
    for path in (
        "/api/v1/users/nobody/works",
        "/api/v1/users/nobody/favorites",
        "/api/v1/users/%00/works",
        "/api/v1/users/a%C3%A9/favorites",
    ):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@BOTH_DATABASES
async def test_a_page_stays_stable_while_works_are_published(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    made = [await make_work(ctx, ada, f"w{i}", published_at=BASE + hours(i)) for i in range(4)]
    first = (await client.get(FEED, params={"limit": 2})).json()
    await make_work(ctx, ada, "newest", published_at=BASE + timedelta(days=1))
    rest = (await client.get(FEED, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [c["work_id"] for c in rest["items"]] == [made[1], made[0]]
