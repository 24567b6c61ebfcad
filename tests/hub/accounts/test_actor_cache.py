"""The bearer-token actor cache (hub/accounts/actorcache.py): a second request skips the
database, and every way a credential ends is seen at once — on this process through the socket
closer, on the others through the connections channel — while a change made behind the hub's
back is seen within the cache's lifetime at the latest."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hub.accounts.actor import Actor
from hub.accounts.actorcache import ActorCache
from hub.accounts.roles import UserRole
from hub.db import utcnow
from rooms.bus import MemoryBus
from rooms.credentials import close_matching_message, connections_channel
from tests.helpers import BOTH_DATABASES

from .helpers import PASSWORD, bearer, signed_up, token_pair, update_user, user_row


async def _personal_token(client: httpx.AsyncClient, csrf: str) -> tuple[int, str]:
    response = await client.post(
        "/api/v1/me/tokens", json={"name": "script"}, headers={"x-csrf-token": csrf}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["token"]["token_id"]), str(response.json()["secret"])


async def _me(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/api/v1/me", headers=bearer(token))).status_code


@BOTH_DATABASES
async def test_the_second_request_comes_from_the_cache(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    _id, secret = await _personal_token(client, csrf)
    client.cookies.clear()
    cache: ActorCache = ctx.actors
    hits = cache.hits
    assert await _me(client, secret) == 200
    assert await _me(client, secret) == 200
    assert cache.hits == hits + 1
    # Changed behind the hub's back (no close published): the cache answers until its lifetime
    # ends; that window is what HUB_AUTH_CACHE_SECONDS bounds.
    await update_user(ctx, "alice", is_active=False)
    assert await _me(client, secret) == 200
    cache.clear()
    assert await _me(client, secret) == 403


@BOTH_DATABASES
async def test_a_revoked_personal_token_is_refused_at_once(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    token_id, secret = await _personal_token(client, csrf)
    assert await _me(client, secret) == 200  # cached now
    revoked = await client.delete(f"/api/v1/me/tokens/{token_id}", headers={"x-csrf-token": csrf})
    assert revoked.status_code == 204, revoked.text
    assert await _me(client, secret) == 401


@BOTH_DATABASES
async def test_a_password_change_ends_cached_access_tokens(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    access = (await token_pair(client, "alice"))["access_token"]
    assert await _me(client, access) == 200
    changed = await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "another horse battery"},
        headers={"x-csrf-token": csrf},
    )
    assert changed.status_code in (200, 204), changed.text
    assert await _me(client, access) == 401


@BOTH_DATABASES
async def test_a_close_from_another_process_empties_the_entry(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    _id, secret = await _personal_token(client, csrf)
    client.cookies.clear()
    assert await _me(client, secret) == 200
    user = await user_row(ctx, "alice")
    assert user is not None
    # What another process (or `hub` on the command line) does after disabling the user:
    # the user's row changes, then the close of "user:<id>" goes out on the connections channel.
    await update_user(ctx, "alice", is_active=False)
    _keys, message = close_matching_message([f"user:{user.user_id}"], reason="disabled")
    other = MemoryBus(ctx.bus._hub)  # another process on the same bus
    await other.start()
    try:
        await other.publish(connections_channel(ctx.settings.room_channel_prefix), message)
        for _ in range(200):  # the in-process bus delivers on the next turns of the loop
            if len(ctx.actors) == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        await other.stop()
    assert await _me(client, secret) == 403


async def test_a_bus_reconnect_forgets_everything(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    _id, secret = await _personal_token(client, csrf)
    assert await _me(client, secret) == 200
    assert len(ctx.actors) == 1
    await ctx.bus.simulate_reconnect()  # closes sent meanwhile may have been lost
    assert len(ctx.actors) == 0


def _actor(user_id: int = 7, token_id: str = "3") -> Actor:  # noqa: S107 - an id
    return Actor(
        user_id=user_id,
        username="u",
        display_name="U",
        role=UserRole.USER,
        auth="api_token",
        token_id=token_id,
    )


def test_entries_end_with_their_lifetime_or_their_token() -> None:
    now = [100.0]
    cache = ActorCache(5.0, 10, clock=lambda: now[0])
    cache.put("a", _actor())
    cache.put("b", _actor(), expires_at=utcnow() + timedelta(seconds=1))
    cache.put("c", _actor(), expires_at=utcnow() - timedelta(seconds=1))  # already expired
    assert [cache.get(t) is not None for t in "abc"] == [True, True, False]
    now[0] += 1.5
    assert [cache.get(t) is not None for t in "ab"] == [True, False]
    now[0] += 4
    assert cache.get("a") is None


def test_it_is_bounded_and_forgets_by_credential_key() -> None:
    cache = ActorCache(60.0, 3)
    for n in range(5):
        cache.put(f"t{n}", _actor(user_id=n, token_id=str(n)))
    assert len(cache) == 3
    assert [cache.get(t) is not None for t in ("t0", "t4")] == [False, True]
    assert cache.forget(["user:3", "pat:4"]) == 2
    assert [cache.get(t) is not None for t in ("t2", "t3", "t4")] == [True, False, False]


@pytest.mark.parametrize("seconds", [0.0])
def test_zero_turns_it_off(seconds: float) -> None:
    cache = ActorCache(seconds, 10)
    cache.put("a", _actor())
    assert cache.get("a") is None
    assert len(cache) == 0
