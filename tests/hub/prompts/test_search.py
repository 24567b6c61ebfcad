"""Templates in the community search (``GET /api/v1/search?type=prompt``): public ones for
everyone, private ones for their author, following edits and deletes, and rebuilt by
``hub search reindex``."""

from __future__ import annotations

import httpx

from hub import cli
from hub.db import Database
from hub.search.reindex import reindex
from tests.helpers import BOTH_DATABASES
from tests.hub.prompts.helpers import create_prompt, person


async def found(
    client: httpx.AsyncClient, q: str, headers: dict[str, str] | None = None
) -> list[str]:
    response = await client.get(
        "/api/v1/search", params={"q": q, "type": "prompt"}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    return [item["url"] for item in response.json()["items"]]


@BOTH_DATABASES
async def test_templates_are_found_and_follow_their_edits(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    public = await create_prompt(
        client, alice, title="Lighthouse", body="a lighthouse in gouache", tags=["coast"]
    )
    private = await create_prompt(
        client, alice, title="Secret lighthouse", body="lighthouse at night", visibility="private"
    )
    assert await found(client, "gouache") == [f"/prompts/{public}"]
    assert await found(client, "coast") == [f"/prompts/{public}"]
    assert await found(client, "lighthouse", bob) == [f"/prompts/{public}"]
    assert set(await found(client, "lighthouse", alice)) == {
        f"/prompts/{public}",
        f"/prompts/{private}",
    }
    await client.patch(f"/api/v1/prompts/{public}", json={"body": "a windmill"}, headers=alice)
    assert await found(client, "gouache") == []
    assert await found(client, "windmill") == [f"/prompts/{public}"]
    await client.patch(f"/api/v1/prompts/{private}", json={"visibility": "public"}, headers=alice)
    assert await found(client, "night", bob) == [f"/prompts/{private}"]
    await client.delete(f"/api/v1/prompts/{private}", headers=alice)
    assert await found(client, "night", alice) == []


@BOTH_DATABASES
async def test_reindex_rebuilds_the_templates(client: httpx.AsyncClient, db: Database) -> None:
    _alice, alice = await person(db, "alice")
    kept = await create_prompt(client, alice, title="Kept", body="a quiet harbour")
    gone = await create_prompt(client, alice, title="Gone", body="a quiet harbour too")
    await client.delete(f"/api/v1/prompts/{gone}", headers=alice)
    sources = [s for s in cli.SEARCH_PROVIDERS if s.module == "hub.prompts.indexing"]
    outcomes = await reindex(db, cli._search_providers(sources))
    assert [(o.name, o.indexed) for o in outcomes] == [("prompts", 1)]
    assert await found(client, "harbour") == [f"/prompts/{kept}"]
