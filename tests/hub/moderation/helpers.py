"""People, works, threads and rooms for the moderation tests, made through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from hub.accounts.actor import Actor
from hub.audit import service as audit
from hub.context import HubContext
from hub.db import Database
from tests.hub.credits.helpers import bearer, make_user
from tests.hub.works.work_helpers import generated

API = "/api/v1"
ADMIN = f"{API}/admin"


@dataclass(frozen=True)
class Member:
    actor: Actor
    headers: dict[str, str]

    @property
    def user_id(self) -> int:
        return self.actor.user_id


async def member(db: Database, username: str, *, role: str = "user") -> Member:
    actor = await make_user(db, username, role=role)
    return Member(actor, await bearer(db, actor))


async def published_work(client: httpx.AsyncClient, ctx: HubContext, who: Member) -> int:
    image_id = await generated(ctx, who)
    body = {"title": "Lighthouse", "image_ids": [image_id], "status": "published"}
    response = await client.post(f"{API}/works", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    work_id: int = response.json()["work_id"]
    return work_id


async def thread(client: httpx.AsyncClient, who: Member, title: str = "Koi at dusk") -> int:
    body = {"category": "general", "title": title, "body": "What do you think?"}
    response = await client.post(f"{API}/threads", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    thread_id: int = response.json()["thread_id"]
    return thread_id


async def comment(client: httpx.AsyncClient, who: Member, thread_id: int, body: str) -> int:
    response = await client.post(
        f"{API}/threads/{thread_id}/comments", json={"body": body}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    comment_id: int = response.json()["comment_id"]
    return comment_id


async def report(
    client: httpx.AsyncClient, who: Member | None, target_type: str, target_id: Any, reason: str
) -> httpx.Response:
    body = {"target_type": target_type, "target_id": target_id, "reason": reason}
    return await client.post(
        f"{API}/reports", json=body, headers=who.headers if who is not None else {}
    )


async def audit_actions(db: Database) -> list[tuple[str, str, str | None]]:
    async with db.unit_of_work() as session:
        rows = await audit.entries(session, limit=200)
    return [(r.action, r.target_id, r.reason) for r in reversed(rows)]
