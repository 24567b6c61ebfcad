"""Likes on threads and comments (idempotent, exact under concurrent requests), and the
notices the forum sends: replies, @mentions and likes."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select
from sqlmodel import col

from hub.db import Database
from hub.notifications.models import Notification
from tests.helpers import BOTH_DATABASES
from tests.hub.forum.helpers import API, Member, member, post_comment, post_thread


async def _notices(db: Database, who: Member) -> list[tuple[str, str, str]]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(Notification)
            .where(col(Notification.recipient_id) == who.user_id)
            .order_by(col(Notification.notification_id))
        )
        return [(n.kind, n.subject_type, n.url) for n in rows]


@BOTH_DATABASES
async def test_liking_is_idempotent_and_counted(client: httpx.AsyncClient, db: Database) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    comment_id = (await post_comment(client, ada, thread_id)).json()["comment_id"]
    for path in (f"/threads/{thread_id}/like", f"/comments/{comment_id}/like"):
        for _ in range(2):
            liked = await client.put(API + path, headers=bob.headers)
            assert liked.status_code == 200
            assert liked.json() == {"liked": True, "like_count": 1}
        for _ in range(2):
            unliked = await client.delete(API + path, headers=bob.headers)
            assert unliked.json() == {"liked": False, "like_count": 0}
        await client.put(API + path, headers=bob.headers)
    thread = (await client.get(f"{API}/threads/{thread_id}", headers=bob.headers)).json()
    assert (thread["like_count"], thread["liked"]) == (1, True)
    anonymous = (await client.get(f"{API}/threads/{thread_id}")).json()
    assert anonymous["liked"] is False
    [comment] = (
        await client.get(f"{API}/threads/{thread_id}/comments", headers=bob.headers)
    ).json()["items"]
    assert (comment["like_count"], comment["liked"]) == (1, True)
    # Liking, unliking and liking again tells the author once per subject.
    assert [k for k, *_ in await _notices(db, ada)] == ["like", "like"]


@BOTH_DATABASES
async def test_likes_of_missing_things_are_404(client: httpx.AsyncClient, db: Database) -> None:
    ada = await member(db, "ada")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    for path in ("/threads/999/like", "/comments/999/like", "/threads/x/like"):
        assert (await client.put(API + path, headers=ada.headers)).status_code == 404
    await client.delete(f"{API}/threads/{thread_id}", headers=ada.headers)
    gone = await client.put(f"{API}/threads/{thread_id}/like", headers=ada.headers)
    assert gone.status_code == 404


@BOTH_DATABASES
async def test_concurrent_likes_count_exactly(client: httpx.AsyncClient, db: Database) -> None:
    ada = await member(db, "ada")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    comment_id = (await post_comment(client, ada, thread_id)).json()["comment_id"]
    fans = [await member(db, f"fan{i:03d}") for i in range(30)]
    paths = (f"{API}/threads/{thread_id}/like", f"{API}/comments/{comment_id}/like")
    # Every fan likes both twice, all at once: 30 each, however the requests interleave.
    requests = [client.put(p, headers=f.headers) for f in fans for p in paths for _ in range(2)]
    responses = await asyncio.gather(*requests)
    assert {r.status_code for r in responses} == {200}
    thread = (await client.get(f"{API}/threads/{thread_id}")).json()
    [comment] = (await client.get(f"{API}/threads/{thread_id}/comments")).json()["items"]
    assert (thread["like_count"], comment["like_count"]) == (30, 30)
    undo = [client.delete(paths[0], headers=f.headers) for f in fans[:10] for _ in range(2)]
    await asyncio.gather(*undo)
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["like_count"] == 20


@BOTH_DATABASES
async def test_concurrent_comments_keep_the_count(client: httpx.AsyncClient, db: Database) -> None:
    ada = await member(db, "ada")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    root = (await post_comment(client, ada, thread_id, "root")).json()["comment_id"]
    posts = [
        post_comment(client, ada, thread_id, f"c{i}", **({"parent_id": root} if i % 2 else {}))
        for i in range(20)
    ]
    assert {r.status_code for r in await asyncio.gather(*posts)} == {201}
    thread = (await client.get(f"{API}/threads/{thread_id}")).json()
    items = (await client.get(f"{API}/threads/{thread_id}/comments", params={"limit": 100})).json()
    assert thread["comment_count"] == len(items["items"]) == 21
    assert [c["depth"] for c in items["items"]][:11] == [0] + [1] * 10


@BOTH_DATABASES
async def test_replies_and_mentions_notify_once_each(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada, bob, cy = await member(db, "ada"), await member(db, "bob"), await member(db, "cyan")
    created = (await post_thread(client, ada, body="Hello @bob")).json()
    thread_id = created["thread_id"]
    assert await _notices(db, bob) == [("mention", "thread", created["url"])]
    comment = (await post_comment(client, bob, thread_id, "Thanks @ada and @cyan")).json()
    # ada hears of the reply (not also of the mention in it); cyan of the mention.
    assert await _notices(db, ada) == [("reply", "comment", comment["url"])]
    assert await _notices(db, cy) == [("mention", "comment", comment["url"])]
    reply = (
        await post_comment(client, cy, thread_id, "Same", parent_id=comment["comment_id"])
    ).json()
    assert (await _notices(db, bob))[-1] == ("reply", "comment", reply["url"])
    own = await post_comment(client, ada, thread_id, "Talking to myself @ada")
    assert own.status_code == 201
    assert len(await _notices(db, ada)) == 1
