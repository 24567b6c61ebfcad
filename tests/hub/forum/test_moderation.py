"""Who may change what: lock and pin (moderators), edits with their history, soft deletes, and
categories (admins), through HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.forum.helpers import API, member, post_comment, post_thread


@BOTH_DATABASES
@pytest.mark.parametrize("action", ["lock", "pin"])
async def test_lock_and_pin_are_for_moderators(
    client: httpx.AsyncClient, db: Database, action: str
) -> None:
    ada, mod = await member(db, "ada"), await member(db, "moddy", role="moderator")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    url = f"{API}/threads/{thread_id}/{action}"
    for method in ("PUT", "DELETE"):
        refused = await client.request(method, url, headers=ada.headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    flag = "locked" if action == "lock" else "pinned"
    assert (await client.get(f"{API}/threads/{thread_id}")).json()[flag] is False
    done = await client.put(url, headers=mod.headers)
    assert done.status_code == 200
    assert done.json()[flag] is True
    assert (await client.put(url, headers=mod.headers)).json()[flag] is True
    undone = await client.delete(url, headers=mod.headers)
    assert undone.json()[flag] is False
    assert (
        await client.put(f"{API}/threads/424242/{action}", headers=mod.headers)
    ).status_code == 404


@BOTH_DATABASES
async def test_a_locked_thread_takes_no_comments_or_author_edits(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    mod = await member(db, "moddy", role="moderator")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    comment_id = (await post_comment(client, bob, thread_id, "before")).json()["comment_id"]
    assert (
        await client.put(f"{API}/threads/{thread_id}/lock", headers=mod.headers)
    ).status_code == 200
    late = await post_comment(client, bob, thread_id, "after")
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "conflict"
    reply = await post_comment(client, bob, thread_id, "after", parent_id=comment_id)
    assert reply.status_code == 409
    edit = await client.patch(
        f"{API}/threads/{thread_id}", json={"body": "changed"}, headers=ada.headers
    )
    assert edit.status_code == 409
    comment_edit = await client.patch(
        f"{API}/comments/{comment_id}", json={"body": "changed"}, headers=bob.headers
    )
    assert comment_edit.status_code == 409
    assert (
        await client.delete(f"{API}/comments/{comment_id}", headers=bob.headers)
    ).status_code == 409
    by_mod = await client.patch(
        f"{API}/threads/{thread_id}", json={"body": "moderated"}, headers=mod.headers
    )
    assert by_mod.status_code == 200
    thread = (await client.get(f"{API}/threads/{thread_id}")).json()
    assert (thread["comment_count"], thread["body"]) == (1, "moderated")
    assert (await client.get(f"{API}/threads/{thread_id}/comments")).json()["items"][0][
        "body"
    ] == "before"


@BOTH_DATABASES
async def test_pinned_threads_come_first(client: httpx.AsyncClient, db: Database) -> None:
    ada, mod = await member(db, "ada"), await member(db, "moddy", role="moderator")
    old = (await post_thread(client, ada, title="Old")).json()["thread_id"]
    new = (await post_thread(client, ada, title="New")).json()["thread_id"]
    await client.put(f"{API}/threads/{old}/pin", headers=mod.headers)
    listed = (await client.get(f"{API}/threads", params={"limit": "1"})).json()
    assert [t["thread_id"] for t in listed["items"]] == [old]
    rest = (await client.get(f"{API}/threads", params={"cursor": listed["next_cursor"]})).json()
    assert [t["thread_id"] for t in rest["items"]] == [new]


@BOTH_DATABASES
async def test_edits_keep_the_history(client: httpx.AsyncClient, db: Database) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    created = (await post_thread(client, ada, title="First", body="one")).json()
    thread_id = created["thread_id"]
    url = f"{API}/threads/{thread_id}"
    assert (await client.patch(url, json={"body": "two"}, headers=ada.headers)).status_code == 200
    renamed = await client.patch(url, json={"title": "Second"}, headers=ada.headers)
    assert renamed.json()["url"] == f"/t/{thread_id}/second"
    assert renamed.json()["edited_at"] is not None
    same = await client.patch(url, json={"title": "Second"}, headers=ada.headers)
    assert same.status_code == 200
    history = (await client.get(f"{url}/revisions")).json()
    assert [(r["title"], r["body"]) for r in history["items"]] == [
        ("First", "two"),
        ("First", "one"),
    ]
    assert history["items"][0]["editor"]["username"] == "ada"
    paged = (await client.get(f"{url}/revisions", params={"limit": "1"})).json()
    more = (await client.get(f"{url}/revisions", params={"cursor": paged["next_cursor"]})).json()
    assert [r["body"] for r in paged["items"] + more["items"]] == ["two", "one"]
    # Someone else may not; bad edits are refused and change nothing.
    assert (await client.patch(url, json={"body": "x"}, headers=bob.headers)).status_code == 403
    for body in ({}, {"title": None}, {"body": " "}, {"title": "ok", "extra": 1}):
        assert (await client.patch(url, json=body, headers=ada.headers)).status_code == 422, body
    assert (
        await client.patch(f"{API}/threads/999", json={"body": "x"}, headers=ada.headers)
    ).status_code == 404
    comment_id = (await post_comment(client, bob, thread_id, "c1")).json()["comment_id"]
    curl = f"{API}/comments/{comment_id}"
    edited = await client.patch(curl, json={"body": "c2 **b**"}, headers=bob.headers)
    assert edited.status_code == 200
    assert edited.json()["body_html"] == "<p>c2 <strong>b</strong></p>\n"
    assert (await client.patch(curl, json={"body": "x"}, headers=ada.headers)).status_code == 403
    comment_history = (await client.get(f"{curl}/revisions")).json()
    assert [(r["title"], r["body"]) for r in comment_history["items"]] == [(None, "c1")]


@BOTH_DATABASES
async def test_soft_deleted_comments_keep_their_place(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    mod = await member(db, "moddy", role="moderator")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    parent = (await post_comment(client, bob, thread_id, "parent")).json()["comment_id"]
    await post_comment(client, ada, thread_id, "child", parent_id=parent)
    assert (await client.delete(f"{API}/comments/{parent}", headers=ada.headers)).status_code == 403
    assert (await client.delete(f"{API}/comments/{parent}", headers=bob.headers)).status_code == 204
    assert (await client.delete(f"{API}/comments/{parent}", headers=bob.headers)).status_code == 404
    items = (await client.get(f"{API}/threads/{thread_id}/comments")).json()["items"]
    assert [(c["deleted"], c["body"], c["author"] is None, c["depth"]) for c in items] == [
        (True, "", True, 0),
        (False, "child", False, 1),
    ]
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["comment_count"] == 1
    for path in (f"/comments/{parent}/revisions", f"/comments/{parent}/like"):
        method = "GET" if path.endswith("revisions") else "PUT"
        response = await client.request(method, API + path, headers=bob.headers)
        assert response.status_code == 404, path
    child = items[1]["comment_id"]
    assert (await client.delete(f"{API}/comments/{child}", headers=mod.headers)).status_code == 204


@BOTH_DATABASES
async def test_deleting_a_thread_is_for_its_author_or_moderators(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    mod = await member(db, "moddy", role="moderator")
    one = (await post_thread(client, ada)).json()["thread_id"]
    two = (await post_thread(client, ada)).json()["thread_id"]
    assert (await client.delete(f"{API}/threads/{one}", headers=bob.headers)).status_code == 403
    assert (await client.delete(f"{API}/threads/{one}", headers=ada.headers)).status_code == 204
    assert (await client.delete(f"{API}/threads/{two}", headers=mod.headers)).status_code == 204
    for thread_id in (one, two):
        assert (await client.get(f"{API}/threads/{thread_id}")).status_code == 404
        assert (
            await client.delete(f"{API}/threads/{thread_id}", headers=mod.headers)
        ).status_code == 404
    assert (await client.get(f"{API}/threads")).json()["items"] == []
    [general] = [
        c for c in (await client.get(f"{API}/categories")).json()["items"] if c["slug"] == "general"
    ]
    assert general["thread_count"] == 0


@BOTH_DATABASES
async def test_admins_manage_categories(client: httpx.AsyncClient, db: Database) -> None:
    admin, mod = await member(db, "boss", role="admin"), await member(db, "moddy", role="moderator")
    body = {"slug": "critique", "name": "Critique", "description": "Honest feedback."}
    refused = await client.post(f"{API}/admin/categories", json=body, headers=mod.headers)
    assert refused.status_code == 403
    created = await client.post(f"{API}/admin/categories", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["url"] == "/forum/critique"
    again = await client.post(f"{API}/admin/categories", json=body, headers=admin.headers)
    assert again.status_code == 409
    for bad in ({**body, "slug": "Bad Slug"}, {**body, "name": " "}, {**body, "extra": True}):
        response = await client.post(f"{API}/admin/categories", json=bad, headers=admin.headers)
        assert response.status_code == 422, bad
    moved = await client.patch(
        f"{API}/admin/categories/critique",
        json={"position": 0, "name": "Crit"},
        headers=admin.headers,
    )
    assert moved.json()["name"] == "Crit"
    slugs = [c["slug"] for c in (await client.get(f"{API}/categories")).json()["items"]]
    assert slugs == ["general", "critique", "showcase", "prompts", "feedback"]
    assert (
        await client.patch(
            f"{API}/admin/categories/nope", json={"name": "x"}, headers=admin.headers
        )
    ).status_code == 404
    thread = await post_thread(client, mod, category="critique")
    assert thread.status_code == 201
    busy = await client.delete(f"{API}/admin/categories/critique", headers=admin.headers)
    assert busy.status_code == 409
    await client.delete(f"{API}/threads/{thread.json()['thread_id']}", headers=mod.headers)
    still = await client.delete(f"{API}/admin/categories/critique", headers=admin.headers)
    assert still.status_code == 409  # the deleted thread stays, and keeps its category
    empty = await client.post(
        f"{API}/admin/categories", json={"slug": "empty", "name": "Empty"}, headers=admin.headers
    )
    assert empty.status_code == 201
    gone = await client.delete(f"{API}/admin/categories/empty", headers=admin.headers)
    assert gone.status_code == 204
    assert (await client.get("/forum/empty", headers={"accept": "text/html"})).status_code == 404


@BOTH_DATABASES
async def test_one_slug_created_at_once_is_one_category(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await member(db, "boss", role="admin")
    body = {"slug": "twice", "name": "Twice"}
    responses = await asyncio.gather(
        *(
            client.post(f"{API}/admin/categories", json=body, headers=admin.headers)
            for _ in range(6)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    slugs = [c["slug"] for c in (await client.get(f"{API}/categories")).json()["items"]]
    assert slugs.count("twice") == 1
