"""The forum API through HTTP: threads, the paged comment tree, and bad input (404, 400, 401,
422)."""

from __future__ import annotations

import httpx
import pytest

from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.forum.helpers import API, member, post_comment, post_thread


@BOTH_DATABASES
async def test_start_a_thread_and_read_it_anonymously(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    created = await post_thread(client, ada, title="Koi *at* dusk", body="**Bold** <b>raw</b>")
    assert created.status_code == 201, created.text
    thread_id = created.json()["thread_id"]
    assert created.json()["url"] == f"/t/{thread_id}/koi-at-dusk"
    got = await client.get(f"{API}/threads/{thread_id}")
    assert got.status_code == 200
    thread = got.json()
    assert thread["title"] == "Koi *at* dusk"
    assert thread["category"] == "general"
    assert thread["author"]["username"] == "ada"
    assert thread["body_html"] == "<p><strong>Bold</strong> &lt;b&gt;raw&lt;/b&gt;</p>\n"
    assert (thread["liked"], thread["locked"], thread["pinned"]) == (False, False, False)
    listed = (await client.get(f"{API}/threads", params={"category": "general"})).json()
    assert [t["thread_id"] for t in listed["items"]] == [thread_id]
    assert (await client.get(f"{API}/threads", params={"category": "showcase"})).json() == {
        "items": [],
        "next_cursor": None,
    }


@BOTH_DATABASES
async def test_writing_needs_an_account(client: httpx.AsyncClient, db: Database) -> None:
    ada = await member(db, "ada")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    body = {"category": "general", "title": "t", "body": "b"}
    assert (await client.post(f"{API}/threads", json=body)).status_code == 401
    comment = await client.post(f"{API}/threads/{thread_id}/comments", json={"body": "hi"})
    assert comment.status_code == 401
    assert (await client.put(f"{API}/threads/{thread_id}/like")).status_code == 401


@BOTH_DATABASES
async def test_bad_thread_input_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    ada = await member(db, "ada")
    unknown = await post_thread(client, ada, category="nope")
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"]["fields"][0]["type"] == "unknown_category"
    for fields in (
        {"title": " "},
        {"body": "\n"},
        {"title": "x" * 201},
        {"category": "Not A Slug"},
        {"extra": 1},
        {"title": 5},
    ):
        response = await post_thread(client, ada, **fields)
        assert response.status_code == 422, (fields, response.text)
    assert (await client.get(f"{API}/threads?category=nope")).status_code == 404
    listed = (await client.get(f"{API}/threads")).json()
    assert listed["items"] == []


@BOTH_DATABASES
@pytest.mark.parametrize("path", ["/threads/{}", "/threads/{}/comments", "/threads/{}/revisions"])
async def test_unknown_threads_are_404(client: httpx.AsyncClient, db: Database, path: str) -> None:
    for thread_id in ("999", "0", "-1", "abc", "1e3", "99999999999999999999"):
        response = await client.get(API + path.format(thread_id))
        assert response.status_code == 404, (thread_id, response.text)
        assert response.json()["error"]["code"] == "not_found"


@BOTH_DATABASES
async def test_comments_form_a_tree_read_depth_first(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    first = (await post_comment(client, bob, thread_id, "first")).json()
    second = (await post_comment(client, ada, thread_id, "second")).json()
    reply = await post_comment(client, ada, thread_id, "re first", parent_id=first["comment_id"])
    assert reply.status_code == 201, reply.text
    assert reply.json()["url"].endswith(f"#c{reply.json()['comment_id']}")
    deeper = await post_comment(
        client, bob, thread_id, "re re", parent_id=reply.json()["comment_id"]
    )
    assert deeper.status_code == 201
    page = (await client.get(f"{API}/threads/{thread_id}/comments")).json()
    assert [(c["body"], c["depth"]) for c in page["items"]] == [
        ("first", 0),
        ("re first", 1),
        ("re re", 2),
        ("second", 0),
    ]
    assert page["items"][1]["parent_id"] == first["comment_id"]
    assert second["thread_id"] == thread_id
    thread = (await client.get(f"{API}/threads/{thread_id}")).json()
    assert thread["comment_count"] == 4


@BOTH_DATABASES
async def test_the_tree_pages_with_cursors(client: httpx.AsyncClient, db: Database) -> None:
    ada = await member(db, "ada")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    roots = [(await post_comment(client, ada, thread_id, f"r{i}")).json() for i in range(3)]
    for i, root in enumerate(roots):
        await post_comment(client, ada, thread_id, f"r{i}.a", parent_id=root["comment_id"])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{API}/threads/{thread_id}/comments", params=params)).json()
        seen += [c["body"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["r0", "r0.a", "r1", "r1.a", "r2", "r2.a"]


@BOTH_DATABASES
@pytest.mark.parametrize(
    "cursor", ["%%%", "bm9wZQ", "WyIyMDI2LTAxLTAxIiwgMV0", "WyJ4IiwiMDAwMDAwMDAwMSJd", "A" * 301]
)
async def test_bad_cursors_are_400(client: httpx.AsyncClient, db: Database, cursor: str) -> None:
    ada = await member(db, "ada")
    thread_id = (await post_thread(client, ada)).json()["thread_id"]
    for path in (
        f"{API}/threads",
        f"{API}/threads/{thread_id}/comments",
        f"{API}/threads/{thread_id}/revisions",
    ):
        response = await client.get(path, params={"cursor": cursor})
        assert response.status_code in (400, 422), (path, cursor, response.text)
        if len(cursor) <= 300 and cursor != "%%%":
            assert response.status_code == 400, (path, cursor)


@BOTH_DATABASES
async def test_a_reply_to_another_threads_comment_is_404(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    one = (await post_thread(client, ada)).json()["thread_id"]
    two = (await post_thread(client, ada, title="Other")).json()["thread_id"]
    elsewhere = (await post_comment(client, ada, one, "here")).json()["comment_id"]
    response = await post_comment(client, ada, two, "there", parent_id=elsewhere)
    assert response.status_code == 404
    assert (await post_comment(client, ada, two, "x", parent_id=424242)).status_code == 404
    assert (await post_comment(client, ada, 424242, "x")).status_code == 404
    counts = [(await client.get(f"{API}/threads/{t}")).json()["comment_count"] for t in (one, two)]
    assert counts == [1, 0]


@BOTH_DATABASES
async def test_threads_list_newest_activity_first_and_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await member(db, "ada")
    ids = [(await post_thread(client, ada, title=f"T{i}")).json()["thread_id"] for i in range(3)]
    await post_comment(client, ada, ids[0], "bump")
    first = (await client.get(f"{API}/threads", params={"limit": "2"})).json()
    assert [t["thread_id"] for t in first["items"]] == [ids[0], ids[2]]
    rest = (await client.get(f"{API}/threads", params={"cursor": first["next_cursor"]})).json()
    assert [t["thread_id"] for t in rest["items"]] == [ids[1]]
    assert rest["next_cursor"] is None
