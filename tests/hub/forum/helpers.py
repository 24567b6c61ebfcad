"""Users, tokens and threads for the forum tests."""

from __future__ import annotations

from typing import Any

import httpx

from hub.accounts.deps import Actor
from hub.db import Database
from hub.forum import service
from tests.hub.credits.helpers import bearer, make_user

__all__ = ["bearer", "make_user", "new_thread", "post_thread"]


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


async def post_thread(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> httpx.Response:
    body = {"category": "general", "title": "Koi at dusk", "body": "What do you think?", **fields}
    return await client.post("/api/v1/threads", json=body, headers=headers)
