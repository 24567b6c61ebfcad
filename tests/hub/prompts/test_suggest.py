"""Suggestions: completions, tags and templates for English and Chinese input through HTTP; what
a signed-out visitor, the author and others see; and how the index of another process catches
up with changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hub.db import Database
from hub.prompts.index import PromptIndex
from hub.prompts.suggest import build_snapshot, complete, find_templates, make_entry, parse_query
from hub.settings import Settings
from tests.helpers import BOTH_DATABASES
from tests.hub.prompts.helpers import create_prompt, person


async def suggest(
    client: httpx.AsyncClient, q: str, headers: dict[str, str] | None = None
) -> dict[str, list[Any]]:
    response = await client.get("/api/v1/prompts/suggest", params={"q": q}, headers=headers or {})
    assert response.status_code == 200, response.text
    kinds: dict[str, list[Any]] = {"completion": [], "tag": [], "template": []}
    for item in response.json()["items"]:
        kinds[item["kind"]].append(
            (item["text"], item["replaces"]) if item["kind"] == "completion" else item["text"]
        )
    return kinds


@BOTH_DATABASES
async def test_suggestions_in_english_and_chinese(client: httpx.AsyncClient, db: Database) -> None:
    _alice, alice = await person(db, "alice")
    await create_prompt(
        client,
        alice,
        title="Rainy street",
        body="a {subject=cat} in the rain, watercolor painting, soft light",
        tags=["Watercolor"],
    )
    await create_prompt(
        client, alice, title="水彩猫", body="一只猫\uff0c水彩画\uff0c柔和的光", tags=["水彩"]
    )
    await create_prompt(client, alice, title="Neon", body="cyberpunk city, neon lights, rain")

    found = await suggest(client, "a dog, wat")
    assert ("watercolor painting", "wat") in found["completion"]
    assert found["tag"] == ["watercolor"]
    assert found["template"] == []  # no template has "dog"
    found = await suggest(client, "wat")
    assert found["template"] == ["Rainy street"]
    found = await suggest(client, "一只猫\uff0c水")
    assert ("水彩画", "水") in found["completion"]
    assert found["tag"] == ["水彩"]
    assert found["template"] == ["水彩猫"]
    found = await suggest(client, "猫")
    assert set(found["template"]) == {"水彩猫"}
    found = await suggest(client, "rain ")
    assert set(found["template"]) == {"Rainy street", "Neon"}
    assert found["completion"] == []  # nothing is being typed after the space
    found = await suggest(client, "cat rain neon")
    assert found["template"] == []


@BOTH_DATABASES
async def test_private_templates_are_suggested_to_their_author_only(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    await create_prompt(
        client,
        alice,
        title="Secret heron",
        body="a grey heron, secret phrase",
        visibility="private",
    )
    assert (await suggest(client, "heron", alice))["template"] == ["Secret heron"]
    for headers in (bob, None):
        found = await suggest(client, "heron", headers)
        assert found["template"] == []
        assert found["completion"] == []  # private phrases never become completions


async def test_official_and_used_templates_rank_first(
    client: httpx.AsyncClient, db: Database, ctx: Any
) -> None:
    _alice, alice = await person(db, "alice")
    _admin, admin = await person(db, "boss", role="admin")
    plain = await create_prompt(client, alice, title="Plain fox", body="a fox")
    used = await create_prompt(client, alice, title="Used fox", body="a fox")
    official = await create_prompt(client, alice, title="Official fox", body="a fox")
    await client.post(f"/api/v1/prompts/{used}/use", json={}, headers=alice)
    await client.put(f"/api/v1/admin/prompts/{official}/official", headers=admin)
    await ctx.prompts.rebuild()
    assert (await suggest(client, "fox"))["template"] == ["Official fox", "Used fox", "Plain fox"]
    response = await client.get("/api/v1/prompts/suggest", params={"q": "fox", "limit": 1})
    assert [i["prompt_id"] for i in response.json()["items"]] == [official]
    assert plain != official


@pytest.mark.parametrize("query", ["q=" + "x" * 201, "limit=0", "limit=21", "q=a&more=1"])
async def test_suggest_refuses_bad_queries(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/v1/prompts/suggest?{query}")
    assert response.status_code == 422


async def test_empty_input_suggests_the_best_templates(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    await create_prompt(client, alice, title="Anything")
    found = await suggest(client, "")
    assert found == {"completion": [], "tag": [], "template": ["Anything"]}


@BOTH_DATABASES
async def test_another_process_catches_up_on_refresh(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    """A second index on the same database, as another web process has: it learns of new,
    changed and deleted templates when it refreshes (its loop does every few seconds)."""
    _alice, alice = await person(db, "alice")
    other = PromptIndex(db, settings)
    await other.start()
    try:
        prompt_id = await create_prompt(client, alice, title="Lantern", body="paper lantern")
        assert other.suggest("lantern", user_id=None, limit=5).items == []
        await other.refresh()
        assert [
            i.text
            for i in other.suggest("lantern", user_id=None, limit=5).items
            if i.kind == "template"
        ] == ["Lantern"]
        await client.patch(
            f"/api/v1/prompts/{prompt_id}", json={"body": "stone lantern"}, headers=alice
        )
        await other.refresh()
        await other.rebuild()
        stone = other.suggest("ston", user_id=None, limit=5).items
        assert [i.text for i in stone if i.kind == "completion"][:1] == ["stone"]
        await client.delete(f"/api/v1/prompts/{prompt_id}", headers=alice)
        await other.refresh()
        assert [
            i for i in other.suggest("lantern", user_id=None, limit=5).items if i.kind == "template"
        ] == []
        await other.rebuild()
        assert other.suggest("lantern", user_id=None, limit=5).items == []
        assert other.size == 0
    finally:
        await other.stop()


def test_query_reading() -> None:
    query = parse_query("a cat in the ra")
    assert query.needles == (" a ", " cat ", " in ", " the ", " ra")
    assert (query.fragment, query.typed_fragment, query.last_word) == (
        "a cat in the ra",
        "a cat in the ra",
        "ra",
    )
    closed = parse_query("一只猫\uff0c")
    assert (closed.needles, closed.fragment, closed.last_word) == (("一只猫",), "", "")
    wide = parse_query("\uff32\uff21\uff29\uff2e\uff0cwat")
    assert (wide.fragment, wide.typed_fragment) == ("wat", "wat")


def test_a_scan_stops_at_the_limit_in_rank_order() -> None:
    entries = [
        make_entry(
            prompt_id=n,
            author_id=1,
            title=f"t{n}",
            body="a fox in snow" if n % 2 else "a fox",
            tags=[],
            public=True,
            official=False,
            usage_count=n,
            favorite_count=0,
        )
        for n in range(1, 201)
    ]
    snapshot = build_snapshot(entries)
    found = find_templates(snapshot, {}, parse_query("fox snow"), user_id=None, limit=3)
    assert [e.prompt_id for e in found] == [199, 197, 195]
    assert complete(snapshot, parse_query("a fox in s"), 3) == [
        ("a fox in snow", "a fox in s"),
        ("snow", "s"),
    ]
    assert complete(snapshot, parse_query("a fox, s"), 3) == [("snow", "s")]
