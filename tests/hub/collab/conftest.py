"""Fixtures for the collab tests: users with bearer tokens, rooms made through the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hub.accounts.tokens import create_personal_token
from hub.accounts.users import create_user
from hub.context import HubContext
from hub.settings import Settings
from tests.databases import truncate_postgres
from tests.fault.redis_server import require_shared_redis
from tests.live import LiveServer, serve_hub


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a test class

    user_id: int
    username: str
    display_name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


MakeUser = Callable[..., Awaitable[TestUser]]


async def create_test_user(
    ctx: HubContext, username: str, display_name: str | None = None
) -> TestUser:
    # No password: skips argon2 (slow by design); the user signs in with a personal token.
    async with ctx.db.unit_of_work() as session:
        user = await create_user(
            session,
            email=f"{username}@example.test",
            username=username,
            password=None,
            display_name=display_name,
        )
        _, secret = await create_personal_token(session, user, name="tests")
        assert user.user_id is not None
        return TestUser(user.user_id, user.username, user.display_name, secret)


@pytest.fixture
def make_user(ctx: HubContext) -> MakeUser:
    async def make(username: str, display_name: str | None = None) -> TestUser:
        return await create_test_user(ctx, username, display_name)

    return make


async def create_room(client: httpx.AsyncClient, owner: TestUser, **fields: Any) -> dict[str, Any]:
    body = {"title": "A room", **fields}
    response = await client.post("/api/v1/rooms", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    room: dict[str, Any] = response.json()
    return room


async def add_member(
    client: httpx.AsyncClient, owner: TestUser, slug: str, member: TestUser, role: str
) -> None:
    response = await client.post(
        f"/api/v1/rooms/{slug}/invites", json={"role": role}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    accepted = await client.post(f"/api/v1/invites/{token}/accept", headers=member.headers)
    assert accepted.status_code == 200, accepted.text


async def room_with_roles(
    client: httpx.AsyncClient, ctx: HubContext
) -> tuple[str, TestUser, TestUser, TestUser]:
    """A room made through the API: (slug, olivia the owner, edward an editor, violet a viewer)."""
    owner = await create_test_user(ctx, "olivia", "Olivia")
    editor = await create_test_user(ctx, "edward", "Edward")
    viewer = await create_test_user(ctx, "violet", "Violet")
    slug = (await create_room(client, owner))["slug"]
    await add_member(client, owner, slug, editor, "editor")
    await add_member(client, owner, slug, viewer, "viewer")
    return slug, owner, editor, viewer


@pytest.fixture
async def pair(settings: Settings) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """Two hub servers on one database and the shared Redis (a key prefix of their own)."""
    url = require_shared_redis()
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    try:
        async with AsyncExitStack() as stack:
            first = await stack.enter_async_context(
                serve_hub(settings, redis_url=url, redis_key_prefix=prefix)
            )
            second = await stack.enter_async_context(
                serve_hub(settings, redis_url=url, redis_key_prefix=prefix)
            )
            yield first, second
    finally:
        await truncate_postgres(settings)
