"""Login rate limits: one account's bad guesses lock that account, not everyone behind its IP.

The JSON login, the token grant and the login form share one rule (``authenticate_password``),
so the tests mix them: a budget spent through one route is spent for the others.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from limits import parse

from tests.helpers import BOTH_DATABASES

from .helpers import PASSWORD, register, session_count, use_settings

HTML = {"accept": "text/html"}


async def _form_login(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    page = await client.get("/login", headers=HTML)
    match = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert match, page.text
    data = {"login": login, "password": password, "csrf_token": match.group(1)}
    return await client.post("/login", data=data, headers=HTML)


async def _token(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", json={"login": login, "password": password})


async def _sign_up_two(client: httpx.AsyncClient) -> None:
    for name in ("alice", "bob"):
        assert (await register(client, name)).status_code == 201
    client.cookies.clear()


def test_default_ip_budget_is_far_above_the_account_budget() -> None:
    from hub.settings import Settings

    defaults = Settings()
    account, per_ip = parse(defaults.rate_limit_login), parse(defaults.rate_limit_login_ip)
    # A classroom shares one IP: many people may mistype before the IP is blocked.
    assert per_ip.amount / per_ip.get_expiry() >= 5 * account.amount / account.get_expiry()


@BOTH_DATABASES
async def test_bad_logins_lock_the_account_not_its_neighbours(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await _sign_up_two(client)
    account = parse(ctx.settings.rate_limit_login).amount
    # Every request comes from the same client address (the ASGI transport's).
    for _ in range(account):
        assert (await _token(client, "alice", "wrong password")).status_code == 401
    locked = await _token(client, "alice", PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "rate_limited"
    assert int(locked.headers["retry-after"]) >= 1
    # The account is locked on every route.
    assert (await _form_login(client, "alice", PASSWORD)).status_code == 429
    assert (
        await client.post("/api/v1/auth/login", json={"login": "Alice", "password": PASSWORD})
    ).status_code == 429
    # Bob, behind the same IP, signs in on every route.
    assert (await _token(client, "bob", PASSWORD)).status_code == 200
    assert (await _form_login(client, "bob", PASSWORD)).status_code == 303
    client.cookies.clear()
    login = await client.post("/api/v1/auth/login", json={"login": "bob", "password": PASSWORD})
    assert login.status_code == 200


@BOTH_DATABASES
async def test_the_ip_limit_trips_at_its_own_higher_threshold(
    app: Any, client: httpx.AsyncClient, ctx: Any
) -> None:
    use_settings(ctx, {"rate_limit_login": "2/minute", "rate_limit_login_ip": "7/minute"})
    await _sign_up_two(client)
    sessions = await session_count(ctx)
    statuses = [(await _token(client, f"user{n}", "wrong password")).status_code for n in range(5)]
    assert statuses == [401] * 5  # five accounts, one guess each: under both budgets
    assert (await _form_login(client, "bob", PASSWORD)).status_code == 303  # 6th from this IP
    assert (await _token(client, "alice", PASSWORD)).status_code == 200  # 7th
    client.cookies.clear()
    refused = await _form_login(client, "alice", PASSWORD)  # 8th: over the IP's budget
    assert refused.status_code == 429
    assert (await _token(client, "bob", PASSWORD)).status_code == 429
    assert await session_count(ctx) == sessions + 1  # only the form login before the limit

    # Another address still has its whole budget.
    transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as other:
        assert (await _token(other, "bob", PASSWORD)).status_code == 200
