"""Follows through HTTP: idempotent, exact under 100 concurrent requests, bad input refused,
lists paged, the followed user notified, rate limited per user."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from hub.accounts.users import get_user
from hub.context import HubContext
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import API, Person, people, person


async def _follow(client: httpx.AsyncClient, who: Person, username: str) -> httpx.Response:
    return await client.put(f"{API}/users/{username}/follow", headers=who.headers)


@BOTH_DATABASES
async def test_follow_and_unfollow_are_idempotent(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob")
    first = await _follow(client, bob, "ada")
    again = await _follow(client, bob, "ADA")
    assert first.status_code == again.status_code == 200
    assert first.json() == {
        "username": "ada",
        "following": True,
        "changed": True,
        "follower_count": 1,
        "following_count": 0,
    }
    assert (again.json()["changed"], again.json()["follower_count"]) == (False, 1)
    gone = await client.delete(f"{API}/users/ada/follow", headers=bob.headers)
    gone_again = await client.delete(f"{API}/users/ada/follow", headers=bob.headers)
    assert gone.json()["changed"]
    assert not gone_again.json()["changed"]
    assert gone_again.json()["follower_count"] == 0
    notices = (await client.get(f"{API}/notifications", headers=ada.headers)).json()
    assert [n["kind"] for n in notices["items"]] == ["follow"]
    assert notices["unread_count"] == 1


@BOTH_DATABASES
async def test_follow_bad_input(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    assert (await client.put(f"{API}/users/ada/follow")).status_code == 401
    for name in ("nobody", "x" * 300, "%00", "ada%2Fx"):
        missing = await _follow(client, ada, name)
        assert missing.status_code == 404, name
        assert missing.json()["error"]["code"] == "not_found"
    yourself = await _follow(client, ada, "Ada")
    assert yourself.status_code == 422
    assert yourself.json()["error"]["details"]["fields"][0]["type"] == "follow_self"
    assert (await client.delete(f"{API}/users/ada/follow", headers=ada.headers)).status_code == 422
    assert (await client.post(f"{API}/users/ada/follow", headers=ada.headers)).status_code == 405


@BOTH_DATABASES
async def test_disabled_users_cannot_be_followed_or_listed(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    await person(ctx, "gone")
    async with ctx.db.unit_of_work() as session:
        user = await get_user(session, (await _user_id(ctx, "gone")))
        assert user is not None
        user.is_active = False
    assert (await _follow(client, ada, "gone")).status_code == 404
    assert (await client.get(f"{API}/users/gone/followers")).status_code == 404


async def _user_id(ctx: HubContext, username: str) -> int:
    from hub.accounts.users import get_user_by_username

    async with ctx.db.unit_of_work() as session:
        user = await get_user_by_username(session, username)
        assert user is not None
        assert user.user_id is not None
        return user.user_id


@BOTH_DATABASES
async def test_a_hundred_concurrent_follows_count_exactly(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    star = await person(ctx, "star")
    fans = await people(ctx, "fan", 100)
    # Every fan twice at once: 200 requests, 100 follows.
    answers = await asyncio.gather(*(_follow(client, fan, "star") for fan in fans + fans))
    assert {a.status_code for a in answers} == {200}
    assert sum(a.json()["changed"] for a in answers) == 100
    final = await _follow(client, fans[0], "star")
    assert final.json()["follower_count"] == 100
    notices = await client.get(f"{API}/notifications?limit=1", headers=star.headers)
    assert notices.json()["unread_count"] == 100
    # And 100 unfollows at once leave none.
    gone = await asyncio.gather(
        *(client.delete(f"{API}/users/star/follow", headers=f.headers) for f in fans)
    )
    assert sum(a.json()["changed"] for a in gone) == 100
    assert (await _follow(client, fans[0], "star")).json()["follower_count"] == 1


@BOTH_DATABASES
async def test_followers_and_following_lists_page_newest_first(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    fans = await people(ctx, "fan", 5)
    for fan in fans:
        assert (await _follow(client, fan, "ada")).status_code == 200
    assert (await _follow(client, ada, "fan001")).status_code == 200
    seen: list[str] = []
    url = f"{API}/users/ada/followers?limit=2"
    while url:
        page = (await client.get(url)).json()  # anonymous visitors may read them
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        url = f"{API}/users/ada/followers?limit=2&cursor={cursor}" if cursor else ""
    assert seen == [f.username for f in reversed(fans)]
    following = (await client.get(f"{API}/users/ada/following")).json()
    assert [u["username"] for u in following["items"]] == ["fan001"]
    assert following["next_cursor"] is None


@BOTH_DATABASES
@pytest.mark.parametrize(
    "query", ["cursor=nope!", "cursor=WzEsMl0", "cursor=eyJ4IjoxfQ", "limit=0", "limit=101"]
)
async def test_follow_lists_refuse_bad_queries(
    client: httpx.AsyncClient, ctx: HubContext, query: str
) -> None:
    await person(ctx, "ada")
    answer = await client.get(f"{API}/users/ada/followers?{query}")
    expected = 422 if query.startswith("limit") else 400
    assert answer.status_code == expected, answer.text
    assert (await client.get(f"{API}/users/nobody/following")).status_code == 404


async def test_follows_are_rate_limited_per_user(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    tight = {"rate_limit_follow": "3/hour", "rate_limit_follow_new": "3/hour"}
    ctx.db.settings = ctx.settings.model_copy(update=tight)
    bob = await person(ctx, "bob")
    others = await people(ctx, "star", 4)
    answers = [await _follow(client, bob, o.username) for o in others]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert "retry-after" in answers[-1].headers
    # Nothing half-written: the refused follow is not there.
    listed = (await client.get(f"{API}/users/{others[3].username}/followers")).json()
    assert listed["items"] == []
    # Someone else still has their budget.
    ada = await person(ctx, "ada")
    assert (await _follow(client, ada, others[3].username)).status_code == 200
