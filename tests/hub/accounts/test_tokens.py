"""API tokens: access/refresh pairs with rotation and reuse detection, personal tokens."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import select, update
from sqlmodel import col

from hub.accounts import security
from hub.accounts.models import ApiToken, RefreshFamily, RefreshToken
from hub.db import utcnow
from tests.helpers import BOTH_DATABASES

from .helpers import (
    PASSWORD,
    bearer,
    live_api_tokens,
    live_families,
    refresh_rows,
    signed_up,
    token_pair,
    update_user,
    use_settings,
)


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


@BOTH_DATABASES
async def test_token_grant_returns_a_working_pair(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    client.cookies.clear()
    pair = await token_pair(client, "alice@example.com")
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == ctx.settings.access_token_ttl
    assert pair["refresh_expires_in"] == ctx.settings.refresh_token_ttl
    assert pair["refresh_token"].startswith("hub_rt_")
    me = await client.get("/api/v1/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    async with ctx.db.unit_of_work() as session:
        stored = await session.scalar(select(RefreshToken))
    assert stored is not None
    assert stored.token_hash == security.digest(pair["refresh_token"])
    assert pair["refresh_token"] not in stored.token_hash


async def test_token_grant_refuses_bad_credentials_alike(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    wrong = await client.post("/api/v1/auth/token", json={"login": "alice", "password": "x" * 10})
    unknown = await client.post("/api/v1/auth/token", json={"login": "bob", "password": "x" * 10})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert await live_families(ctx) == 0


async def test_token_grant_is_rate_limited(client: httpx.AsyncClient, ctx: Any) -> None:
    use_settings(ctx, {"rate_limit_login": "2/minute"})
    await signed_up(client)
    statuses = [
        (
            await client.post("/api/v1/auth/token", json={"login": "alice", "password": PASSWORD})
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


@BOTH_DATABASES
async def test_refresh_rotates_the_pair(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    client.cookies.clear()
    first = await token_pair(client)
    response = await _refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"] or second["expires_in"] > 0
    assert (
        await client.get("/api/v1/me", headers=bearer(second["access_token"]))
    ).status_code == 200
    third = await _refresh(client, second["refresh_token"])
    assert third.status_code == 200
    assert await live_families(ctx) == 1
    assert await refresh_rows(ctx) == 3


@BOTH_DATABASES
async def test_reusing_a_rotated_refresh_token_revokes_the_family(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    client.cookies.clear()
    first = await token_pair(client)
    second = (await _refresh(client, first["refresh_token"])).json()
    other_family = await token_pair(client)
    # The thief (or a confused client) presents the rotated token again.
    reuse = await _refresh(client, first["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "token_reused"
    # Every token of that family is dead now: the newest refresh token and its access token.
    latest = await _refresh(client, second["refresh_token"])
    assert latest.status_code == 401
    assert latest.json()["error"]["code"] == "token_invalid"
    me = await client.get("/api/v1/me", headers=bearer(second["access_token"]))
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "token_invalid"
    # Another sign-in of the same user is untouched.
    assert await live_families(ctx) == 1
    assert (await _refresh(client, other_family["refresh_token"])).status_code == 200
    async with ctx.db.unit_of_work() as session:
        reasons = set(await session.scalars(select(col(RefreshFamily.revoked_reason))))
    assert reasons == {"reuse", None}


@BOTH_DATABASES
async def test_concurrent_refreshes_let_exactly_one_through(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    first = await token_pair(client)
    responses = await asyncio.gather(*(_refresh(client, first["refresh_token"]) for _ in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) <= 1
    assert statuses.count(200) + statuses.count(401) == 5
    # Whatever the interleaving, a second use was detected and the family is gone.
    assert await live_families(ctx) == 0


async def test_expired_refresh_token_is_refused(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    pair = await token_pair(client)
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = await _refresh(client, pair["refresh_token"])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    assert await refresh_rows(ctx) == 1


@pytest.mark.parametrize(
    "token", ["hub_rt_forged", "x", "hub_pat_not-a-refresh-token"], ids=["forged", "short", "pat"]
)
async def test_unknown_refresh_token_is_invalid(
    client: httpx.AsyncClient, ctx: Any, token: str
) -> None:
    response = await _refresh(client, token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


@pytest.mark.parametrize(
    "body",
    [{}, {"refresh_token": ""}, {"refresh_token": 5}, {"refresh_token": "x" * 201}, {"x": 1}],
)
async def test_refresh_refuses_invalid_bodies(client: httpx.AsyncClient, body: Any) -> None:
    response = await client.post("/api/v1/auth/refresh", json=body)
    assert response.status_code == 422


async def test_refresh_of_a_disabled_account_is_refused(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    pair = await token_pair(client)
    await update_user(ctx, "alice", is_active=False)
    response = await _refresh(client, pair["refresh_token"])
    assert response.status_code == 403
    access = await client.get("/api/v1/me", headers=bearer(pair["access_token"]))
    assert access.status_code == 403


async def test_revoke_ends_the_family_at_once(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    client.cookies.clear()
    pair = await token_pair(client)
    response = await client.post(
        "/api/v1/auth/revoke", json={"refresh_token": pair["refresh_token"]}
    )
    assert response.json() == {"revoked": True}
    assert (await _refresh(client, pair["refresh_token"])).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(pair["access_token"]))).status_code == 401
    again = await client.post("/api/v1/auth/revoke", json={"refresh_token": pair["refresh_token"]})
    assert again.json() == {"revoked": False}
    unknown = await client.post("/api/v1/auth/revoke", json={"refresh_token": "hub_rt_nope"})
    assert unknown.json() == {"revoked": False}
    bad = await client.post("/api/v1/auth/revoke", json={"refresh_token": 1})
    assert bad.status_code == 422


def _forge(ctx: Any, claims: dict[str, Any], *, key: bytes | None = None, **header: Any) -> str:
    secret = key or security.derive_key(ctx.settings, "access-token")
    return jwt.encode(
        {"alg": "HS256", "typ": "at+jwt", **header}, claims, OctKey.import_key(secret)
    )


async def test_expired_access_token_is_token_expired(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    pair = await token_pair(client)
    client.cookies.clear()
    claims = jwt.decode(pair["access_token"], OctKey.import_key(
        security.derive_key(ctx.settings, "access-token")
    )).claims  # fmt: skip
    old, _ = security.issue_access_token(
        ctx.settings,
        user_id=int(claims["sub"]),
        family_id=claims["fam"],
        now=int(time.time()) - ctx.settings.access_token_ttl - 5,
    )
    response = await client.get("/api/v1/me", headers=bearer(old))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_forged_access_tokens_are_token_invalid(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    pair = await token_pair(client)
    client.cookies.clear()
    real = jwt.decode(
        pair["access_token"], OctKey.import_key(security.derive_key(ctx.settings, "access-token"))
    ).claims
    future = int(time.time()) + 600
    forged = [
        # Signed with the raw secret instead of the derived key.
        _forge(ctx, real, key=ctx.settings.secret_key.get_secret_value().encode()),
        # Signed with another key altogether.
        _forge(ctx, real, key=b"k" * 32),
        # Right key, but another token type.
        _forge(ctx, real, typ="JWT"),
        # Right key, but claims for another user / family, or missing claims.
        _forge(ctx, {**real, "sub": "999"}),
        _forge(ctx, {**real, "fam": "nope"}),
        _forge(ctx, {"sub": real["sub"], "exp": future, "iss": real["iss"]}),
        _forge(ctx, {**real, "iss": "https://elsewhere.example"}),
        _forge(ctx, {**real, "sub": "1; drop"}),
        # Not a JWT at all, and a tampered payload.
        "not-a-jwt",
        pair["access_token"][:-3] + "abc",
    ]
    for token in forged:
        response = await client.get("/api/v1/me", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.json()["error"]["code"] == "token_invalid", token


@pytest.mark.parametrize(
    "header", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer    ", "Token abc", "bearer"]
)
async def test_malformed_authorization_header_is_token_invalid(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.get("/api/v1/me", headers={"authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


async def test_anonymous_request_to_me_is_unauthenticated(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


# --- personal tokens ---------------------------------------------------------------------------


async def _create_pat(
    client: httpx.AsyncClient, csrf: str, name: str = "script", **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/me/tokens", json={"name": name, **extra}, headers={"x-csrf-token": csrf}
    )


@BOTH_DATABASES
async def test_personal_token_lifecycle(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    created = await _create_pat(client, csrf, "backup script")
    assert created.status_code == 201
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("hub_pat_")
    assert body["token"]["name"] == "backup script"
    assert secret.startswith(body["token"]["token_prefix"])
    assert body["token"]["expires_at"] is None
    async with ctx.db.unit_of_work() as session:
        row = await session.scalar(select(ApiToken))
    assert row is not None
    assert row.token_hash == security.digest(secret)
    # The secret works as a bearer token, and is never listed again.
    me = await client.get("/api/v1/me", headers=bearer(secret))
    assert me.status_code == 200
    listing = await client.get("/api/v1/me/tokens")
    assert listing.status_code == 200
    assert secret not in listing.text
    [item] = listing.json()["items"]
    assert item["token_id"] == body["token"]["token_id"]
    assert item["last_used_at"] is not None
    # Revoke: the token stops working at once.
    token_id = item["token_id"]
    deleted = await client.delete(f"/api/v1/me/tokens/{token_id}", headers={"x-csrf-token": csrf})
    assert deleted.status_code == 204
    client.cookies.clear()
    refused = await client.get("/api/v1/me", headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_invalid"
    assert await live_api_tokens(ctx) == 0


async def test_personal_token_with_expiry_expires(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    created = await _create_pat(client, csrf, expires_in_days=7)
    assert created.status_code == 201
    expires = created.json()["token"]["expires_at"]
    assert expires is not None
    async with ctx.db.unit_of_work() as session:
        await session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    client.cookies.clear()
    response = await client.get("/api/v1/me", headers=bearer(created.json()["secret"]))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"name": 3},
        {"name": "ok", "expires_in_days": 0},
        {"name": "ok", "expires_in_days": 3651},
        {"name": "ok", "expires_in_days": "soon"},
        {"name": "ok", "scope": "admin"},
    ],
)
async def test_personal_token_creation_refuses_bad_input(
    client: httpx.AsyncClient, ctx: Any, body: dict[str, Any]
) -> None:
    csrf = await signed_up(client)
    response = await client.post("/api/v1/me/tokens", json=body, headers={"x-csrf-token": csrf})
    assert response.status_code == 422
    assert await live_api_tokens(ctx) == 0


async def test_personal_token_cannot_manage_tokens_or_password(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    secret = (await _create_pat(client, csrf)).json()["secret"]
    client.cookies.clear()
    more = await client.post("/api/v1/me/tokens", json={"name": "more"}, headers=bearer(secret))
    assert more.status_code == 403
    password = await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "another passphrase"},
        headers=bearer(secret),
    )
    assert password.status_code == 403
    assert await live_api_tokens(ctx) == 1


async def test_revoking_someone_elses_token_is_not_found(
    app: Any, client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    token_id = (await _create_pat(client, csrf)).json()["token"]["token_id"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"origin": "http://testserver"}
    ) as other:
        other_csrf = await signed_up(other, "bob")
        for path in (
            f"/api/v1/me/tokens/{token_id}",
            "/api/v1/me/tokens/999",
            "/api/v1/me/tokens/x",
        ):
            response = await other.delete(path, headers={"x-csrf-token": other_csrf})
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        listing = await other.get("/api/v1/me/tokens")
        assert listing.json()["items"] == []
    assert await live_api_tokens(ctx) == 1


async def test_revoking_twice_is_not_found(client: httpx.AsyncClient) -> None:
    csrf = await signed_up(client)
    token_id = (await _create_pat(client, csrf)).json()["token"]["token_id"]
    first = await client.delete(f"/api/v1/me/tokens/{token_id}", headers={"x-csrf-token": csrf})
    second = await client.delete(f"/api/v1/me/tokens/{token_id}", headers={"x-csrf-token": csrf})
    assert (first.status_code, second.status_code) == (204, 404)


async def test_personal_token_list_is_cursor_paged(client: httpx.AsyncClient) -> None:
    csrf = await signed_up(client)
    created = [
        (await _create_pat(client, csrf, f"t{i}")).json()["token"]["token_id"] for i in range(5)
    ]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/me/tokens", params=params)).json()
        seen += [item["token_id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(created, reverse=True)


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "!!!"}]
)
async def test_personal_token_list_refuses_bad_paging(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    await signed_up(client)
    response = await client.get("/api/v1/me/tokens", params=params)
    assert response.status_code in (400, 422)
    assert response.json()["error"]["code"] in ("bad_request", "validation_error")


async def test_revoked_personal_token_of_disabled_user(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    secret = (await _create_pat(client, csrf)).json()["secret"]
    await update_user(ctx, "alice", is_active=False)
    client.cookies.clear()
    response = await client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 403
    async with ctx.db.unit_of_work() as session:
        live = await session.scalar(select(ApiToken).where(col(ApiToken.revoked_at).is_(None)))
    assert live is not None
