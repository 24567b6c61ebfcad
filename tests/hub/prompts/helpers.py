"""Users, tokens and templates for the prompt library tests."""

from __future__ import annotations

from typing import Any

import httpx

from hub.accounts.deps import Actor
from hub.db import Database
from tests.hub.credits.helpers import bearer, make_user

__all__ = ["bearer", "create_prompt", "make_user", "person"]


async def person(
    db: Database, username: str, *, role: str = "user"
) -> tuple[Actor, dict[str, str]]:
    """A user and the headers of a personal token of theirs."""
    actor = await make_user(db, username, role=role)
    return actor, await bearer(db, actor)


async def create_prompt(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> int:
    body: dict[str, Any] = {"title": "Rainy cat", "body": "a {subject=cat} in the rain"}
    body["visibility"] = "public"
    body.update(fields)
    response = await client.post("/api/v1/prompts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "version"}
    assert created["version"] == 1
    prompt_id: int = created["id"]
    return prompt_id
