"""The forum's public pages: readable anonymously, with their search-engine heads, a 301 for a
wrong slug, view counts, and the form posts that write (an account and CSRF token needed)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from sqlalchemy import event

from hub.db import Database
from tests.conftest import TEST_ORIGIN
from tests.helpers import BOTH_DATABASES
from tests.hub.accounts.helpers import signed_up
from tests.hub.forum.helpers import API, member, post_comment, post_thread

HTML = {"accept": "text/html"}


def _meta(page: str, key: str) -> str:
    pattern = rf'<meta (?:name|property)="{re.escape(key)}" content="([^"]*)">'
    found = re.search(pattern, page)
    assert found, f"no {key} in the page"
    return found.group(1)


def _jsonld(page: str) -> Any:
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert found, "no JSON-LD"
    return json.loads(found.group(1))


@BOTH_DATABASES
async def test_forum_and_category_pages_list_threads_anonymously(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    await post_thread(client, ada, title="Koi at dusk", category="showcase")
    index = await client.get("/forum", headers=HTML)
    assert index.status_code == 200
    assert "Prompt craft" in index.text
    assert "Koi at dusk" in index.text
    assert f'<link rel="canonical" href="{TEST_ORIGIN}/forum">' in index.text
    category = await client.get("/forum/showcase", headers=HTML)
    assert category.status_code == 200
    assert "Koi at dusk" in category.text
    assert _meta(category.text, "og:url") == f"{TEST_ORIGIN}/forum/showcase"
    assert "Start a thread" not in category.text  # signed out: a link to sign in instead
    assert (await client.get("/forum/general", headers=HTML)).text.count("thread-title") == 0
    missing = await client.get("/forum/nope", headers=HTML)
    assert missing.status_code == 404


@BOTH_DATABASES
async def test_thread_page_has_its_head_and_json_ld(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    body = "A *koi* pond.\n\n![koi](/media/koi.png)"
    created = (await post_thread(client, ada, title="Koi at dusk", body=body)).json()
    await post_comment(client, bob, created["thread_id"], "So **good**")
    page = await client.get(created["url"], headers=HTML)
    assert page.status_code == 200
    canonical = TEST_ORIGIN + created["url"]
    assert "<title>Koi at dusk · Creation Hub</title>" in page.text
    assert f'<link rel="canonical" href="{canonical}">' in page.text
    assert _meta(page.text, "description") == "A koi pond."
    assert _meta(page.text, "og:type") == "article"
    assert _meta(page.text, "og:image") == f"{TEST_ORIGIN}/media/koi.png"
    assert _meta(page.text, "twitter:card") == "summary_large_image"
    assert _meta(page.text, "twitter:title") == "Koi at dusk"
    posting = _jsonld(page.text)
    assert posting["@type"] == "DiscussionForumPosting"
    assert posting["headline"] == "Koi at dusk"
    assert posting["url"] == canonical
    assert posting["author"] == {"@type": "Person", "name": "ada", "url": f"{TEST_ORIGIN}/u/ada"}
    assert posting["commentCount"] == 1
    assert posting["comment"][0]["text"] == "So good"
    assert "<em>koi</em>" in page.text
    assert "Sign in</a> to comment" in page.text


@BOTH_DATABASES
async def test_a_wrong_or_missing_slug_is_301_and_counts_no_view(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    created = (await post_thread(client, ada, title="Koi at dusk")).json()
    thread_id = created["thread_id"]
    for path in (f"/t/{thread_id}/wrong", f"/t/{thread_id}", f"/t/{thread_id}/KOI-AT-DUSK"):
        response = await client.get(path, headers=HTML)
        assert response.status_code == 301, path
        assert response.headers["location"] == created["url"]
    kept = await client.get(f"/t/{thread_id}/wrong?cursor=abc", headers=HTML)
    assert kept.headers["location"] == created["url"] + "?cursor=abc"
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["view_count"] == 0
    for _ in range(2):
        assert (await client.get(created["url"], headers=HTML)).status_code == 200
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["view_count"] == 2


@BOTH_DATABASES
async def test_unknown_and_deleted_threads_are_404_pages(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    created = (await post_thread(client, ada)).json()
    deleted = await client.delete(f"{API}/threads/{created['thread_id']}", headers=ada.headers)
    assert deleted.status_code == 204
    for path in (created["url"], "/t/999/x", "/t/abc/x", "/t/0"):
        response = await client.get(path, headers=HTML)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]


@BOTH_DATABASES
async def test_forms_post_threads_and_replies_with_a_session(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await signed_up(client, "carol")
    form = {"csrf_token": csrf, "title": "From the form", "body": "Hello @carol"}
    created = await client.post("/forum/general/threads", data=form)
    assert created.status_code == 303
    url = created.headers["location"]
    thread_id = int(url.split("/")[2])
    page = await client.get(url, headers=HTML)
    assert "Start a thread" not in page.text
    assert 'name="csrf_token"' in page.text
    comment = await client.post(f"/t/{thread_id}/comments", data={"csrf_token": csrf, "body": "c1"})
    assert comment.status_code == 303
    comment_id = int(comment.headers["location"].split("#c")[1])
    assert comment.headers["location"] == f"{url}?comment={comment_id}#c{comment_id}"
    reply = {"csrf_token": csrf, "body": "r1", "parent_id": str(comment_id)}
    assert (await client.post(f"/t/{thread_id}/comments", data=reply)).status_code == 303
    liked = await client.post(f"/t/{thread_id}/like", data={"csrf_token": csrf, "on": "1"})
    assert liked.status_code == 303
    thread = (await client.get(f"{API}/threads/{thread_id}")).json()
    assert (thread["comment_count"], thread["like_count"]) == (2, 1)
    started = await client.get(f"{url}?comment={comment_id}", headers=HTML)
    assert "r1" in started.text


@BOTH_DATABASES
async def test_forms_need_the_csrf_token_and_an_account(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    anonymous = await client.post(f"/t/{thread_id}/comments", data={"body": "x"})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    await signed_up(client, "carol")
    forged = await client.post(f"/t/{thread_id}/comments", data={"body": "x", "csrf_token": "no"})
    assert forged.status_code == 403
    foreign = await client.post(
        "/forum/general/threads",
        data={"title": "x", "body": "y"},
        headers={"origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["comment_count"] == 0


@BOTH_DATABASES
async def test_moderator_form_locks_and_users_get_403(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    csrf = await signed_up(client, "carol")
    response = await client.post(
        f"/t/{thread_id}/moderate", data={"csrf_token": csrf, "action": "lock"}, headers=HTML
    )
    assert response.status_code == 403
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["locked"] is False


@BOTH_DATABASES
async def test_moderators_lock_with_the_form(client: httpx.AsyncClient, db: Database) -> None:
    ada, mod = await member(db, "ada"), await member(db, "moddy", role="moderator")
    created = (await post_thread(client, ada)).json()
    page = await client.get(created["url"], headers={**HTML, **mod.headers})
    assert 'value="lock"' in page.text
    locked = await client.post(
        f"/t/{created['thread_id']}/moderate", data={"action": "lock"}, headers=mod.headers
    )
    assert locked.status_code == 303
    page = await client.get(created["url"], headers={**HTML, **mod.headers})
    assert "This thread is locked" in page.text
    assert 'value="unlock"' in page.text
    odd = await client.post(
        f"/t/{created['thread_id']}/moderate", data={"action": "explode"}, headers=mod.headers
    )
    assert odd.status_code == 404


async def _queries(ctx: Any, client: httpx.AsyncClient, url: str) -> int:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert (await client.get(url, headers=HTML)).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


@BOTH_DATABASES
async def test_pages_make_as_many_queries_for_many_rows_as_for_few(
    client: httpx.AsyncClient, db: Database, ctx: Any
) -> None:
    people = [await member(db, f"user{i}") for i in range(6)]
    created = (await post_thread(client, people[0])).json()
    await post_comment(client, people[1], created["thread_id"])
    await post_thread(client, people[1], title="Second")
    few = {url: await _queries(ctx, client, url) for url in ("/forum", "/forum/general")}
    few_thread = await _queries(ctx, client, created["url"])
    for i, who in enumerate(people):
        await post_thread(client, who, title=f"More {i}")
        for _ in range(3):
            await post_comment(client, who, created["thread_id"])
    for url, count in few.items():
        assert await _queries(ctx, client, url) == count, url
    assert await _queries(ctx, client, created["url"]) == few_thread
