"""Small helpers for the accounts tests: sign-ups, sign-ins and database reads."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from hub.accounts.models import ApiToken, BrowserSession, RefreshFamily, RefreshToken, User

PASSWORD = "correct horse battery"


async def register(
    client: httpx.AsyncClient,
    username: str = "alice",
    *,
    email: str | None = None,
    password: str = PASSWORD,
    **extra: Any,
) -> httpx.Response:
    body = {"email": email or f"{username}@example.com", "username": username, "password": password}
    body.update(extra)
    return await client.post("/api/v1/auth/register", json=body)


async def signed_up(client: httpx.AsyncClient, username: str = "alice", **kw: Any) -> str:
    """Register (the client keeps the session cookie) and return the CSRF token."""
    response = await register(client, username, **kw)
    assert response.status_code == 201, response.text
    token: str = response.json()["csrf_token"]
    return token


async def token_pair(
    client: httpx.AsyncClient, login: str = "alice", password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/token", json={"login": login, "password": password})
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def user_row(ctx: Any, username: str) -> User | None:
    async with ctx.db.unit_of_work() as session:
        user: User | None = await session.scalar(
            select(User).where(col(User.username_key) == username.lower())
        )
        return user


async def count(ctx: Any, model: Any, *conditions: Any) -> int:
    async with ctx.db.unit_of_work() as session:
        value = await session.scalar(select(func.count()).select_from(model).where(*conditions))
        return int(value or 0)


async def session_count(ctx: Any) -> int:
    return await count(ctx, BrowserSession)


async def user_count(ctx: Any) -> int:
    return await count(ctx, User)


async def live_families(ctx: Any) -> int:
    return await count(ctx, RefreshFamily, col(RefreshFamily.revoked_at).is_(None))


async def refresh_rows(ctx: Any) -> int:
    return await count(ctx, RefreshToken)


async def live_api_tokens(ctx: Any) -> int:
    return await count(ctx, ApiToken, col(ApiToken.revoked_at).is_(None))


async def update_user(ctx: Any, username: str, **values: Any) -> None:
    from sqlalchemy import update

    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(User).where(col(User.username_key) == username.lower()).values(**values)
        )


def use_settings(ctx: Any, update: dict[str, Any]) -> None:
    """Change settings after start-up. Routes read ``ctx.settings`` and services the unit of
    work's (``hub.db.settings_of``): one object in the app, so both are replaced together."""
    ctx.settings = ctx.db.settings = ctx.settings.model_copy(update=update)
