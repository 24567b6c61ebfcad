"""Users, tokens, threads and comments for the forum tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from hub.accounts.deps import Actor
from hub.db import Database
from hub.forum import service
from tests.hub.credits.helpers import bearer, make_user

API = "/api/v1"

__all__ = ["API", "Member", "make_user", "member", "new_thread", "post_comment", "post_thread"]


@dataclass(frozen=True)
class Member:
    """A user and the bearer headers of a personal token of theirs."""

    actor: Actor
    headers: dict[str, str]

    @property
    def user_id(self) -> int:
        return self.actor.user_id


async def member(db: Database, username: str, *, role: str = "user") -> Member:
    actor = await make_user(db, username, role=role)
    return Member(actor, await bearer(db, actor))


async def new_thread(
    db: Database,
    actor: Actor,
    *,
    category: str = "general",
    title: str = "Koi at dusk",
    body: str = "What do you think?",
) -> service.ThreadRef:
    async with db.unit_of_work() as session:
        return await service.create_thread(
            session, actor, category=category, title=title, body=body, limiter=None
        )


async def post_thread(client: httpx.AsyncClient, who: Member, **fields: Any) -> httpx.Response:
    body = {"category": "general", "title": "Koi at dusk", "body": "What do you think?", **fields}
    return await client.post(f"{API}/threads", json=body, headers=who.headers)


async def post_comment(
    client: httpx.AsyncClient, who: Member, thread_id: int, body: str = "Nice", **fields: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/threads/{thread_id}/comments", json={"body": body, **fields}, headers=who.headers
    )
