"""Threads and comments in search: indexed when written, changed when edited, gone when
deleted, and rebuilt by the reindex from the forum's ``search_documents``."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import delete

from hub.db import Database
from hub.forum import indexing
from hub.search.models import DocKind
from hub.search.query import DOCS
from hub.search.reindex import Provider, reindex
from hub.search.service import count_documents
from tests.helpers import BOTH_DATABASES
from tests.hub.forum.helpers import API, member, post_comment, post_thread


async def _hits(client: httpx.AsyncClient, q: str, kind: str) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/search", params={"q": q, "type": kind})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@BOTH_DATABASES
async def test_threads_and_comments_are_found_until_deleted(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    created = await post_thread(
        client, ada, category="prompts", title="Watercolour koi", body="Soft washes of teal"
    )
    thread = created.json()
    comment = (await post_comment(client, bob, thread["thread_id"], "Try ultramarine")).json()
    [hit] = await _hits(client, "watercolour", "thread")
    assert (hit["url"], hit["category"], hit["owner_id"]) == (thread["url"], "prompts", ada.user_id)
    [hit] = await _hits(client, "ultramarine", "comment")
    assert hit["url"] == comment["url"]
    assert hit["title"] == "Watercolour koi"

    patched = await client.patch(
        f"{API}/comments/{comment['comment_id']}", json={"body": "Try cobalt"}, headers=bob.headers
    )
    assert patched.status_code == 200
    assert await _hits(client, "ultramarine", "comment") == []
    assert len(await _hits(client, "cobalt", "comment")) == 1

    retitled = await client.patch(
        f"{API}/threads/{thread['thread_id']}", json={"title": "Gouache koi"}, headers=ada.headers
    )
    assert retitled.status_code == 200
    [hit] = await _hits(client, "cobalt", "comment")
    assert hit["title"] == "Gouache koi"
    assert hit["url"].startswith(f"/t/{thread['thread_id']}/gouache-koi#c")

    deleted = await client.delete(f"{API}/threads/{thread['thread_id']}", headers=ada.headers)
    assert deleted.status_code == 204
    assert await _hits(client, "gouache", "thread") == []
    assert await _hits(client, "cobalt", "comment") == []


@BOTH_DATABASES
async def test_a_deleted_comment_leaves_the_index(client: httpx.AsyncClient, db: Database) -> None:
    ada = await member(db, "ada")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    comment_id = (await post_comment(client, ada, thread_id, "Vermilion")).json()["comment_id"]
    assert len(await _hits(client, "vermilion", "comment")) == 1
    response = await client.delete(f"{API}/comments/{comment_id}", headers=ada.headers)
    assert response.status_code == 204
    assert await _hits(client, "vermilion", "comment") == []


@BOTH_DATABASES
async def test_reindex_rebuilds_the_forum_documents(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    ids = [(await post_thread(client, ada, title=f"T{i}")).json()["thread_id"] for i in range(3)]
    for thread_id in ids:
        await post_comment(client, ada, thread_id, "one")
        await post_comment(client, ada, thread_id, "two")
    gone = (await post_comment(client, ada, ids[0], "three")).json()["comment_id"]
    await client.delete(f"{API}/comments/{gone}", headers=ada.headers)
    await client.delete(f"{API}/threads/{ids[2]}", headers=ada.headers)
    async with db.unit_of_work() as session:
        expected = [d async for d in indexing.search_documents(session)]
        assert await indexing.count_search_documents(session) == len(expected) == 6
        # Lose the index, then rebuild it from the forum alone.
        await session.execute(delete(DOCS))
    provider = Provider(
        "forum", indexing.KINDS, indexing.search_documents, indexing.count_search_documents
    )
    await reindex(db, [provider])
    async with db.unit_of_work() as session:
        assert await count_documents(session, DocKind.thread) == 2
        assert await count_documents(session, DocKind.comment) == 4
    assert len(await _hits(client, "two", "comment")) == 2
