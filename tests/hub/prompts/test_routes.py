"""The prompt library through HTTP: templates, visibility, edits, soft delete, lists and their
filters, favorites and the official mark, with the bad input of each endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.prompts.helpers import create_prompt, person


@BOTH_DATABASES
async def test_create_returns_the_id_and_version_and_normalizes_labels(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, headers = await person(db, "alice")
    prompt_id = await create_prompt(
        client,
        headers,
        body="a {subject} in {style=ink wash}, {{not a variable}}",
        negative_prompt="blurry, {flaw=text}",
        tags=["Watercolor", "\uff23\uff21\uff34", "watercolor", "猫"],
        category=" Animals ",
        params={"steps": 20, "size": "768x512", "model": "offline-sketch"},
    )
    response = await client.get(f"/api/v1/prompts/{prompt_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["tags"] == ["watercolor", "cat", "猫"]
    assert body["category"] == "animals"
    assert body["params"] == {"steps": 20, "size": "768x512", "model": "offline-sketch"}
    assert body["variables"] == [
        {"name": "subject", "default": None},
        {"name": "style", "default": "ink wash"},
        {"name": "flaw", "default": "text"},
    ]
    assert body["author"]["username"] == "alice"
    assert (body["version"], body["usage_count"], body["favorite_count"]) == (1, 0, 0)
    assert body["official"] is False
    assert body["favorited"] is None  # signed out
    mine = await client.get(f"/api/v1/prompts/{prompt_id}", headers=headers)
    assert mine.json()["favorited"] is False


async def test_writes_need_sign_in(client: httpx.AsyncClient, db: Database) -> None:
    _alice, headers = await person(db, "alice")
    prompt_id = await create_prompt(client, headers)
    calls = [
        ("POST", "/api/v1/prompts", {"title": "t", "body": "b", "visibility": "public"}),
        ("PATCH", f"/api/v1/prompts/{prompt_id}", {"title": "new"}),
        ("DELETE", f"/api/v1/prompts/{prompt_id}", None),
        ("PUT", f"/api/v1/prompts/{prompt_id}/favorite", None),
        ("POST", f"/api/v1/prompts/{prompt_id}/use", {}),
        ("POST", f"/api/v1/prompts/{prompt_id}/versions/1/restore", None),
        ("PUT", f"/api/v1/admin/prompts/{prompt_id}/official", None),
        ("POST", "/api/v1/prompts/from-room", {"room": "r", "title": "t", "visibility": "public"}),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"


BAD_BODIES: list[dict[str, Any]] = [
    {"body": "b", "visibility": "public"},
    {"title": "   ", "body": "b", "visibility": "public"},
    {"title": "x" * 201, "body": "b", "visibility": "public"},
    {"title": "bell\x07", "body": "b", "visibility": "public"},
    {"title": "t", "body": "  ", "visibility": "public"},
    {"title": "t", "body": "nul\x00", "visibility": "public"},
    {"title": "t", "body": "x" * 2001, "visibility": "public"},
    {"title": "t", "body": "b"},
    {"title": "t", "body": "b", "visibility": "unlisted"},
    {"title": "t", "body": "b", "visibility": "public", "tags": ["t"] * 11},
    {"title": "t", "body": "b", "visibility": "public", "tags": ["x" * 33]},
    {"title": "t", "body": "b", "visibility": "public", "tags": "cat"},
    {"title": "t", "body": "b", "visibility": "public", "category": None},
    {"title": "t", "body": "b", "visibility": "public", "params": {"steps": 0}},
    {"title": "t", "body": "b", "visibility": "public", "params": {"size": "big"}},
    {"title": "t", "body": "b", "visibility": "public", "params": {"sampler": "euler"}},
    {"title": "t", "body": "b", "visibility": "public", "params": {"steps": "20"}},
    {"title": "t", "body": "b", "visibility": "public", "surprise": True},
    {"title": 5, "body": "b", "visibility": "public"},
]


@BOTH_DATABASES
@pytest.mark.parametrize("body", BAD_BODIES)
async def test_create_refuses_bad_bodies(
    client: httpx.AsyncClient, db: Database, body: dict[str, Any]
) -> None:
    _alice, headers = await person(db, "alice")
    response = await client.post("/api/v1/prompts", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    listed = await client.get("/api/v1/prompts?scope=mine", headers=headers)
    assert listed.json()["items"] == []


async def test_create_refuses_two_defaults_for_one_variable(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, headers = await person(db, "alice")
    body = {"title": "t", "body": "{style=ink} and {style=oil}", "visibility": "public"}
    response = await client.post("/api/v1/prompts", json=body, headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["fields"][0]["field"] == "body"
    assert error["details"]["fields"][0]["type"] == "variables"
    assert "style" in error["message"]


async def test_create_refuses_what_is_not_json(client: httpx.AsyncClient, db: Database) -> None:
    _alice, headers = await person(db, "alice")
    response = await client.post(
        "/api/v1/prompts", content=b"{nope", headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    response = await client.post(
        "/api/v1/prompts", content=b"title=x", headers={**headers, "content-type": "text/plain"}
    )
    assert response.status_code == 415


@BOTH_DATABASES
async def test_private_templates_are_their_authors_alone(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    prompt_id = await create_prompt(client, alice, visibility="private")
    assert (await client.get(f"/api/v1/prompts/{prompt_id}", headers=alice)).status_code == 200
    paths = [
        ("GET", f"/api/v1/prompts/{prompt_id}", None),
        ("GET", f"/api/v1/prompts/{prompt_id}/versions", None),
        ("GET", f"/api/v1/prompts/{prompt_id}/versions/1", None),
        ("GET", f"/api/v1/prompts/{prompt_id}/diff?from=1&to=1", None),
        ("PATCH", f"/api/v1/prompts/{prompt_id}", {"title": "mine now"}),
        ("DELETE", f"/api/v1/prompts/{prompt_id}", None),
        ("PUT", f"/api/v1/prompts/{prompt_id}/favorite", None),
        ("POST", f"/api/v1/prompts/{prompt_id}/use", {}),
        ("POST", f"/api/v1/prompts/{prompt_id}/apply", {"prompt": "a fox"}),
    ]
    for method, path, body in paths:
        for headers in (bob, {}):
            response = await client.request(method, path, json=body, headers=headers)
            expected = 401 if not headers and method not in ("GET", "POST") else 404
            if not headers and path.endswith("/use"):
                expected = 401
            assert response.status_code == expected, (method, path, headers, response.text)
    public = await client.get("/api/v1/prompts")
    assert public.json()["items"] == []


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "99999999999", "1.5", "%00"])
async def test_ids_that_name_nothing_are_404(client: httpx.AsyncClient, raw: str) -> None:
    for path in (f"/api/v1/prompts/{raw}", f"/api/v1/prompts/{raw}/versions"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@BOTH_DATABASES
async def test_only_the_author_edits_and_an_edit_is_a_version(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    prompt_id = await create_prompt(client, alice, category="animals")
    path = f"/api/v1/prompts/{prompt_id}"
    refused = await client.patch(path, json={"title": "Bob's"}, headers=bob)
    assert refused.status_code == 403
    edited = await client.patch(path, json={"title": "Snowy cat", "category": None}, headers=alice)
    assert edited.json() == {"id": prompt_id, "version": 2}
    unchanged = await client.patch(path, json={"title": "Snowy cat"}, headers=alice)
    assert unchanged.json() == {"id": prompt_id, "version": 2}
    shown = (await client.get(path)).json()
    assert (shown["title"], shown["category"], shown["version"]) == ("Snowy cat", None, 2)


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"body": None},
        {"tags": None},
        {"visibility": "hidden"},
        {"body": "{a=1}{a=2}"},
        {"unknown": 1},
        {"params": {"count": 9}},
    ],
)
async def test_edit_refuses_bad_bodies(
    client: httpx.AsyncClient, db: Database, body: dict[str, Any]
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice)
    response = await client.patch(f"/api/v1/prompts/{prompt_id}", json=body, headers=alice)
    assert response.status_code == 422, response.text
    assert (await client.get(f"/api/v1/prompts/{prompt_id}")).json()["version"] == 1


@BOTH_DATABASES
async def test_delete_is_soft_and_hides_everywhere(client: httpx.AsyncClient, db: Database) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    _mod, moderator = await person(db, "molly", role="moderator")
    first = await create_prompt(client, alice)
    second = await create_prompt(client, alice, title="Second")
    assert (await client.delete(f"/api/v1/prompts/{first}", headers=bob)).status_code == 403
    assert (await client.delete(f"/api/v1/prompts/{first}", headers=alice)).status_code == 204
    assert (await client.delete(f"/api/v1/prompts/{second}", headers=moderator)).status_code == 204
    for prompt_id in (first, second):
        assert (await client.get(f"/api/v1/prompts/{prompt_id}", headers=alice)).status_code == 404
        again = await client.delete(f"/api/v1/prompts/{prompt_id}", headers=alice)
        assert again.status_code == 404
    listed = await client.get("/api/v1/prompts?scope=mine", headers=alice)
    assert listed.json()["items"] == []
    suggested = await client.get("/api/v1/prompts/suggest?q=rain")
    assert [i for i in suggested.json()["items"] if i["kind"] == "template"] == []


@BOTH_DATABASES
async def test_lists_filter_and_page(client: httpx.AsyncClient, db: Database) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    cat = await create_prompt(client, alice, title="Cat", tags=["Animals"], category="pets")
    fox = await create_prompt(client, alice, title="Fox", tags=["animals", "wild"])
    await create_prompt(client, bob, title="City", tags=["urban"], category="places")
    secret = await create_prompt(client, bob, title="Secret", visibility="private")

    async def titles(query: str, headers: dict[str, str] | None = None) -> list[str]:
        response = await client.get(f"/api/v1/prompts?{query}", headers=headers or {})
        assert response.status_code == 200, response.text
        return [item["title"] for item in response.json()["items"]]

    assert await titles("") == ["City", "Fox", "Cat"]
    assert await titles("tag=ANIMALS") == ["Fox", "Cat"]
    assert await titles("tag=wild") == ["Fox"]
    assert await titles("category=Pets") == ["Cat"]
    assert await titles("author=bob") == ["City"]
    assert await titles("author=nobody") == []
    assert await titles("scope=mine", bob) == ["Secret", "City"]
    assert await titles("scope=mine&author=alice", bob) == []
    for prompt_id in (cat, secret):
        await client.put(f"/api/v1/prompts/{prompt_id}/favorite", headers=bob)
    assert await titles("scope=favorites", bob) == ["Secret", "Cat"]
    for _ in range(2):
        await client.post(f"/api/v1/prompts/{fox}/use", json={}, headers=alice)
    assert await titles("sort=popular") == ["Fox", "City", "Cat"]

    first = (await client.get("/api/v1/prompts?limit=2&sort=popular")).json()
    assert [i["title"] for i in first["items"]] == ["Fox", "City"]
    rest = await client.get(f"/api/v1/prompts?limit=2&sort=popular&cursor={first['next_cursor']}")
    assert [i["title"] for i in rest.json()["items"]] == ["Cat"]
    assert rest.json()["next_cursor"] is None
    # A cursor of one order is not one of the other.
    other = await client.get(f"/api/v1/prompts?limit=2&cursor={first['next_cursor']}")
    assert other.status_code == 400


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("cursor=not-a-cursor!", 400),
        ("cursor=WyJ4Il0", 400),
        ("cursor=bm9wZQ", 400),
        ("limit=0", 422),
        ("limit=101", 422),
        ("scope=everything", 422),
        ("sort=random", 422),
        ("official=maybe", 422),
        ("surprise=1", 422),
    ],
)
async def test_list_refuses_bad_queries(client: httpx.AsyncClient, query: str, status: int) -> None:
    response = await client.get(f"/api/v1/prompts?{query}")
    assert response.status_code == status, response.text


async def test_mine_and_favorites_need_sign_in(client: httpx.AsyncClient) -> None:
    for scope in ("mine", "favorites"):
        response = await client.get(f"/api/v1/prompts?scope={scope}")
        assert response.status_code == 401


@BOTH_DATABASES
async def test_favorites_are_idempotent_and_exact_under_concurrency(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice)
    path = f"/api/v1/prompts/{prompt_id}/favorite"
    people = [await person(db, f"fan{n}") for n in range(12)]
    answers = await asyncio.gather(
        *(client.put(path, headers=headers) for _actor, headers in people for _ in range(2))
    )
    assert {a.status_code for a in answers} == {200}
    shown = (await client.get(f"/api/v1/prompts/{prompt_id}", headers=people[0][1])).json()
    assert (shown["favorite_count"], shown["favorited"]) == (12, True)
    removed = await asyncio.gather(
        *(client.delete(path, headers=headers) for _actor, headers in people[:5])
    )
    assert removed[-1].json()["favorited"] is False
    again = await client.delete(path, headers=people[0][1])
    assert again.json() == {"prompt_id": prompt_id, "favorited": False, "favorite_count": 7}


@BOTH_DATABASES
async def test_admins_curate_official_prompts(client: httpx.AsyncClient, db: Database) -> None:
    _alice, alice = await person(db, "alice")
    _admin, admin = await person(db, "boss", role="admin")
    public = await create_prompt(client, alice)
    private = await create_prompt(client, alice, visibility="private")
    path = f"/api/v1/admin/prompts/{public}/official"
    assert (await client.put(path, headers=alice)).status_code == 403
    marked = await client.put(path, headers=admin)
    assert marked.status_code == 200
    assert marked.json()["official"] is True
    assert [
        i["prompt_id"] for i in (await client.get("/api/v1/prompts?official=true")).json()["items"]
    ] == [public]
    refused = await client.put(f"/api/v1/admin/prompts/{private}/official", headers=admin)
    assert refused.status_code == 409
    assert (
        await client.put("/api/v1/admin/prompts/424242/official", headers=admin)
    ).status_code == 404
    # Made private by its author, a template stops being official.
    await client.patch(f"/api/v1/prompts/{public}", json={"visibility": "private"}, headers=alice)
    assert (await client.get(f"/api/v1/prompts/{public}", headers=alice)).json()[
        "official"
    ] is False
    await client.patch(f"/api/v1/prompts/{public}", json={"visibility": "public"}, headers=alice)
    unmarked = await client.delete(path, headers=admin)
    assert unmarked.json()["official"] is False
