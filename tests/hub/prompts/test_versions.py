"""Versions through HTTP: every edit is one, list and read them, diff two word by word (English
and Chinese), restore an old one as the newest; concurrent edits get consecutive numbers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.prompts.helpers import create_prompt, person


@BOTH_DATABASES
async def test_versions_are_listed_newest_first_and_paged(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice, body="one")
    for text in ("two", "three", "four"):
        response = await client.patch(
            f"/api/v1/prompts/{prompt_id}", json={"body": text}, headers=alice
        )
        assert response.status_code == 200
    page = (await client.get(f"/api/v1/prompts/{prompt_id}/versions?limit=3")).json()
    assert [(v["version"], v["body"]) for v in page["items"]] == [
        (4, "four"),
        (3, "three"),
        (2, "two"),
    ]
    assert page["items"][0]["editor"]["username"] == "alice"
    rest = await client.get(
        f"/api/v1/prompts/{prompt_id}/versions", params={"cursor": page["next_cursor"]}
    )
    assert [v["body"] for v in rest.json()["items"]] == ["one"]
    assert rest.json()["next_cursor"] is None
    one = await client.get(f"/api/v1/prompts/{prompt_id}/versions/1")
    assert one.json()["body"] == "one"
    for missing in ("5", "0", "x"):
        response = await client.get(f"/api/v1/prompts/{prompt_id}/versions/{missing}")
        assert response.status_code == 404


@BOTH_DATABASES
async def test_diff_is_word_level_in_english_and_chinese(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(
        client, alice, title="Cat", body="一只黑色的猫 in the rain", tags=["cat", "rain"]
    )
    await client.patch(
        f"/api/v1/prompts/{prompt_id}",
        json={
            "title": "White Cat",
            "body": "一只白色的猫 in heavy rain",
            "tags": ["cat", "snow"],
            "category": "animals",
            "params": {"steps": 12},
        },
        headers=alice,
    )
    response = await client.get(f"/api/v1/prompts/{prompt_id}/diff?from=1&to=2")
    assert response.status_code == 200
    diff = response.json()
    assert diff["body"] == [
        {"op": "equal", "text": "一只"},
        {"op": "delete", "text": "黑"},
        {"op": "insert", "text": "白"},
        {"op": "equal", "text": "色的猫 in "},
        {"op": "delete", "text": "the"},
        {"op": "insert", "text": "heavy"},
        {"op": "equal", "text": " rain"},
    ]
    assert diff["title"] == [{"op": "insert", "text": "White "}, {"op": "equal", "text": "Cat"}]
    assert (diff["tags_added"], diff["tags_removed"]) == (["snow"], ["rain"])
    assert diff["category"] == {"before": None, "after": "animals"}
    assert diff["params"] == {"before": {}, "after": {"steps": 12}}
    same = (await client.get(f"/api/v1/prompts/{prompt_id}/diff?from=2&to=2")).json()
    assert same["category"] is None
    assert {p["op"] for p in same["body"]} == {"equal"}


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 422), ("from=1", 422), ("from=a&to=1", 422), ("from=0&to=1", 422), ("from=1&to=9", 404)],
)
async def test_diff_refuses_bad_queries(
    client: httpx.AsyncClient, db: Database, query: str, status: int
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice)
    response = await client.get(f"/api/v1/prompts/{prompt_id}/diff?{query}")
    assert response.status_code == status, response.text


@BOTH_DATABASES
async def test_restore_makes_an_old_version_the_newest(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    prompt_id = await create_prompt(client, alice, title="First", tags=["a"])
    await client.patch(
        f"/api/v1/prompts/{prompt_id}", json={"title": "Second", "tags": ["b"]}, headers=alice
    )
    path = f"/api/v1/prompts/{prompt_id}/versions/1/restore"
    assert (await client.post(path, headers=bob)).status_code == 403
    missing = await client.post(f"/api/v1/prompts/{prompt_id}/versions/7/restore", headers=alice)
    assert missing.status_code == 404
    restored = await client.post(path, headers=alice)
    assert restored.status_code == 201
    assert restored.json() == {"id": prompt_id, "version": 3}
    shown = (await client.get(f"/api/v1/prompts/{prompt_id}")).json()
    assert (shown["title"], shown["tags"], shown["version"]) == ("First", ["a"], 3)
    newest = (await client.get(f"/api/v1/prompts/{prompt_id}/versions?limit=1")).json()
    assert newest["items"][0]["restored_from"] == 1
    tagged = await client.get("/api/v1/prompts?tag=a")
    assert [i["prompt_id"] for i in tagged.json()["items"]] == [prompt_id]
    assert (await client.get("/api/v1/prompts?tag=b")).json()["items"] == []


@BOTH_DATABASES
async def test_concurrent_edits_get_consecutive_versions(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice)
    answers = await asyncio.gather(
        *(
            client.patch(f"/api/v1/prompts/{prompt_id}", json={"body": f"edit {n}"}, headers=alice)
            for n in range(8)
        )
    )
    assert [a.status_code for a in answers] == [200] * 8
    assert sorted(a.json()["version"] for a in answers) == list(range(2, 10))
    listed = (await client.get(f"/api/v1/prompts/{prompt_id}/versions?limit=100")).json()
    by_version = {v["version"]: v["body"] for v in listed["items"]}
    assert len(by_version) == 9
    for answer in answers:
        version = answer.json()["version"]
        assert by_version[version].startswith("edit ")
    current = (await client.get(f"/api/v1/prompts/{prompt_id}")).json()
    assert current["body"] == by_version[9]


@pytest.mark.parametrize("query", ["cursor=zzz", "limit=0", "limit=500", "other=1"])
async def test_version_list_refuses_bad_queries(
    client: httpx.AsyncClient, db: Database, query: str
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice)
    response = await client.get(f"/api/v1/prompts/{prompt_id}/versions?{query}")
    assert response.status_code in (400, 422)
