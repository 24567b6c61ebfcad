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


async def make_room(client: httpx.AsyncClient, owner: dict[str, str], **fields: Any) -> str:
    response = await client.post("/api/v1/rooms", json={"title": "Room", **fields}, headers=owner)
    assert response.status_code == 201, response.text
    slug: str = response.json()["slug"]
    return slug


async def join(
    client: httpx.AsyncClient, slug: str, owner: dict[str, str], member: dict[str, str], role: str
) -> None:
    invite = await client.post(f"/api/v1/rooms/{slug}/invites", json={"role": role}, headers=owner)
    assert invite.status_code == 201, invite.text
    accepted = await client.post(f"/api/v1/invites/{invite.json()['token']}/accept", headers=member)
    assert accepted.status_code == 200, accepted.text


async def document(client: httpx.AsyncClient, slug: str, headers: dict[str, str]) -> Any:
    response = await client.get(f"/api/v1/rooms/{slug}/document", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()
