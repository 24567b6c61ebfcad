"""Fault test: the rate limiter's Redis goes away. Every rate-limited route keeps answering what
it answers with Redis (never a 500), limits are still enforced by a per-process fallback, the
outage is logged once, and the shared budgets in Redis are used again once Redis is back."""

from __future__ import annotations

import io
import logging
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from PIL import Image

from hub.settings import Settings
from tests.fault.redis_server import RedisServer
from tests.helpers import eventually
from tests.hub.accounts.helpers import PASSWORD, bearer

pytestmark = [pytest.mark.redis]

LIMITER_LOGGER = "hub.ratelimit"


@pytest.fixture
def settings(settings: Settings, redis_server: RedisServer) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": redis_server.url,
            "redis_key_prefix": f"hubtest-{uuid.uuid4().hex[:8]}:",
            "rate_limit_login": "3/minute",
        }
    )


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 99, 199)).save(buffer, "PNG")
    return buffer.getvalue()


class Caller:
    """Calls each rate-limited route once as a fresh user and returns the statuses."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def routes(self) -> dict[str, int]:
        client = self.client
        name = f"u{uuid.uuid4().hex[:10]}"
        statuses: dict[str, int] = {}
        body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
        response = await client.post("/api/v1/auth/register", json=body)
        statuses["register"] = response.status_code
        client.cookies.clear()
        response = await client.post(
            "/api/v1/auth/login", json={"login": name, "password": PASSWORD}
        )
        statuses["login"] = response.status_code
        client.cookies.clear()
        response = await client.post(
            "/api/v1/auth/token", json={"login": name, "password": PASSWORD}
        )
        statuses["token"] = response.status_code
        if response.status_code != 200:
            return statuses
        headers = bearer(response.json()["access_token"])
        response = await client.post("/api/v1/rooms", json={"title": "Room"}, headers=headers)
        statuses["room create"] = response.status_code
        if response.status_code == 201:
            slug = response.json()["slug"]
            response = await client.post(
                f"/api/v1/rooms/{slug}/jobs", json={"prompt": "a fox"}, headers=headers
            )
            statuses["room job"] = response.status_code
        response = await client.post(
            "/api/v1/jobs", json={"prompt": "a fox", "model": "offline-sketch"}, headers=headers
        )
        statuses["job"] = response.status_code
        response = await client.post(
            "/api/v1/uploads", files={"file": ("a.png", _png(), "image/png")}, headers=headers
        )
        statuses["upload"] = response.status_code
        response = await client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "another good secret"},
            headers=headers,
        )
        statuses["password change"] = response.status_code
        return statuses


EXPECTED = {
    "register": 201,
    "login": 200,
    "token": 200,
    "room create": 201,
    "room job": 201,
    "job": 201,
    "upload": 201,
    "password change": 204,
}


async def _wrong_logins(client: httpx.AsyncClient, login: str, times: int) -> list[int]:
    statuses = []
    for _ in range(times):
        response = await client.post(
            "/api/v1/auth/token", json={"login": login, "password": "wrong password"}
        )
        statuses.append(response.status_code)
    return statuses


async def _limiter_keys(redis_server: RedisServer, settings: Settings) -> list[bytes | str]:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        return list(await client.keys(f"{settings.redis_key_prefix}ratelimit*"))
    finally:
        await client.aclose()


async def test_rate_limited_routes_survive_a_redis_outage(
    client: httpx.AsyncClient,
    redis_server: RedisServer,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LIMITER_LOGGER)
    caller = Caller(client)
    assert await caller.routes() == EXPECTED
    assert await _limiter_keys(redis_server, settings)  # budgets are shared through Redis

    await redis_server.astop()
    during: list[dict[str, int]] = [await caller.routes() for _ in range(2)]
    assert during == [EXPECTED, EXPECTED]
    # Protection stays: the account's budget is counted in this process meanwhile.
    assert await _wrong_logins(client, "victim", 4) == [401, 401, 401, 429]
    outage_logs = [r for r in caplog.records if r.name == LIMITER_LOGGER]
    assert [r.levelno for r in outage_logs] == [logging.WARNING], outage_logs

    await redis_server.astart()

    async def back_on_redis() -> bool:
        # Any limited request will do; the limiter tries Redis again a moment after a failure.
        assert await _wrong_logins(client, f"probe{uuid.uuid4().hex[:6]}", 1) == [401]
        return bool(await _limiter_keys(redis_server, settings))

    await eventually(back_on_redis, timeout=10, interval=0.2, message="limiter back on Redis")
    assert await caller.routes() == EXPECTED
    logs = [r for r in caplog.records if r.name == LIMITER_LOGGER]
    assert [r.levelno for r in logs] == [logging.WARNING, logging.INFO]
    # Budgets counted in Redis again: a fresh account name has its whole budget there.
    assert await _wrong_logins(client, "victim2", 4) == [401, 401, 401, 429]
