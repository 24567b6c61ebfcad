"""Limits: the community rate limits of hub.accounts.trust (tighter for new accounts) and the
size of bodies (413), with nothing half-written on refusal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.forum.helpers import API, member, post_comment, post_thread

MAX_BODY = 500


@pytest.fixture
def forum_limits() -> dict[str, Any]:
    return {
        "rate_limit_thread_new": "2/hour",
        "rate_limit_thread": "4/hour",
        "rate_limit_comment_new": "3/hour",
        "rate_limit_reaction_new": "3/hour",
        "forum_max_body_chars": MAX_BODY,
        "max_body_bytes": 64 * 1024,
    }


@BOTH_DATABASES
async def test_new_accounts_start_few_threads(client: httpx.AsyncClient, db: Database) -> None:
    ada, mod = await member(db, "ada"), await member(db, "moddy", role="moderator")
    for _ in range(2):
        assert (await post_thread(client, ada)).status_code == 201
    limited = await post_thread(client, ada)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) > 0
    # Staff are never "new": they get the normal budget.
    assert [(await post_thread(client, mod)).status_code for _ in range(5)] == [201] * 4 + [429]
    listed = (await client.get(f"{API}/threads", params={"limit": 100})).json()
    assert len(listed["items"]) == 6


@BOTH_DATABASES
async def test_comments_and_likes_are_rate_limited(client: httpx.AsyncClient, db: Database) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    statuses = [(await post_comment(client, bob, thread_id)).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["comment_count"] == 3
    like = f"{API}/threads/{thread_id}/like"
    toggles = [(await client.put(like, headers=bob.headers)).status_code for _ in range(4)]
    assert toggles == [200, 200, 200, 429]


@BOTH_DATABASES
async def test_huge_bodies_are_413_and_write_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    too_long = await post_thread(client, ada, body="x" * (MAX_BODY + 1))
    assert too_long.status_code == 413
    assert too_long.json()["error"]["details"] == {"limit": MAX_BODY}
    huge = await post_thread(client, ada, body="x" * (70 * 1024))
    assert huge.status_code == 413
    assert (await post_thread(client, ada, body="x" * MAX_BODY)).status_code == 201
    thread_id = (await client.get(f"{API}/threads")).json()["items"][0]["thread_id"]
    assert (await post_comment(client, ada, thread_id, "y" * (MAX_BODY + 1))).status_code == 413
    comment_id = (await post_comment(client, ada, thread_id, "fine")).json()["comment_id"]
    edit = await client.patch(
        f"{API}/comments/{comment_id}", json={"body": "z" * (MAX_BODY + 1)}, headers=ada.headers
    )
    assert edit.status_code == 413
    thread_edit = await client.patch(
        f"{API}/threads/{thread_id}", json={"body": "z" * (MAX_BODY + 1)}, headers=ada.headers
    )
    assert thread_edit.status_code == 413
    listed = (await client.get(f"{API}/threads")).json()["items"]
    assert [(t["thread_id"], t["comment_count"]) for t in listed] == [(thread_id, 1)]
    [comment] = (await client.get(f"{API}/threads/{thread_id}/comments")).json()["items"]
    assert (comment["body"], comment["edited_at"]) == ("fine", None)
    assert (await client.get(f"{API}/threads/{thread_id}/revisions")).json()["items"] == []
