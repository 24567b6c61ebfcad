"""Sign-up and sign-in through the JSON API, and every bad input they must refuse."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from hub.accounts import security
from tests.helpers import BOTH_DATABASES

from .helpers import (
    PASSWORD,
    register,
    session_count,
    signed_up,
    update_user,
    use_settings,
    user_count,
    user_row,
)


@BOTH_DATABASES
async def test_register_creates_user_and_signs_in(client: httpx.AsyncClient, ctx: Any) -> None:
    response = await register(client, "Alice_1", email="Alice@Example.com", display_name="Alice")
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["username"] == "Alice_1"
    assert body["user"]["email"] == "Alice@Example.com"
    assert body["user"]["display_name"] == "Alice"
    assert body["user"]["role"] == "user"
    assert body["user"]["avatar_url"] == "/api/v1/users/Alice_1/avatar.svg"
    assert "password_hash" not in response.text
    assert PASSWORD not in response.text
    assert len(body["csrf_token"]) >= 32
    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["username"] == "Alice_1"
    user = await user_row(ctx, "alice_1")
    assert user is not None
    assert user.email_key == "alice@example.com"
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert await session_count(ctx) == 1


async def test_register_sets_a_hardened_session_cookie(client: httpx.AsyncClient) -> None:
    response = await register(client)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("hub_session=")
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=lax" in lowered
    assert "path=/" in lowered
    assert "secure" not in lowered  # public_url is http:// in tests


async def test_session_cookie_is_secure_behind_https(app: Any, ctx: Any) -> None:
    use_settings(ctx, {"public_url": "https://hub.example"})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="https://hub.example",
        headers={"origin": "https://hub.example"},
    ) as secure_client:
        response = await register(secure_client)
    assert response.status_code == 201
    assert "secure" in response.headers["set-cookie"].lower()


@BOTH_DATABASES
@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        (("alice", "a@example.com"), ("bob", "A@EXAMPLE.com"), "email"),
        (("alice", "a@example.com"), ("ALICE", "b@example.com"), "username"),
    ],
    ids=["email", "username"],
)
async def test_duplicate_email_or_username_is_conflict(
    client: httpx.AsyncClient,
    ctx: Any,
    first: tuple[str, str],
    second: tuple[str, str],
    field: str,
) -> None:
    assert (await register(client, first[0], email=first[1])).status_code == 201
    client.cookies.clear()
    response = await register(client, second[0], email=second[1])
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert error["details"] == {"field": field}
    assert await user_count(ctx) == 1
    assert await session_count(ctx) == 1


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b'"alice"', "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
        (b"email=a@b.c", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
    ids=["malformed", "array", "string", "empty", "not-utf8", "form"],
)
async def test_register_refuses_unparseable_bodies(
    client: httpx.AsyncClient, ctx: Any, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = await client.post(
        "/api/v1/auth/register", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert await user_count(ctx) == 0


_MISSING = object()


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"email": "a@example.com", "username": "alice", "password": PASSWORD}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not _MISSING}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(email=_MISSING), "email"),
        (_body(username=_MISSING), "username"),
        (_body(password=_MISSING), "password"),
        (_body(email=5), "email"),
        (_body(username=["alice"]), "username"),
        (_body(password=12345678), "password"),
        (_body(email="not-an-email"), "email"),
        (_body(email="a b@example.com"), "email"),
        (_body(username="al"), "username"),
        (_body(username="x" * 33), "username"),
        (_body(username="al ice"), "username"),
        (_body(username="ali-ce"), "username"),
        (_body(username="Admin"), "username"),
        (_body(password="short"), "password"),
        (_body(password="p" * 257), "password"),
        (_body(role="admin"), "role"),
        (_body(display_name=" "), "display_name"),
        (_body(display_name="a\x00b"), "display_name"),
        (_body(display_name="x" * 65), "display_name"),
    ],
    ids=[
        "no-email", "no-username", "no-password", "email-int", "username-list", "password-int",
        "email-garbage", "email-space", "username-short", "username-long", "username-space",
        "username-dash", "username-reserved", "password-short", "password-long", "extra-role",
        "display-blank", "display-control", "display-long",
    ],
)  # fmt: skip
async def test_register_refuses_invalid_fields(
    client: httpx.AsyncClient, ctx: Any, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [f["field"] for f in error["details"]["fields"]]
    assert await user_count(ctx) == 0
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("username", "email", "password"),
    [
        ("alice", "alice@example.com", "password123"),
        ("alice", "alice@example.com", "aaaaaaaaaaaa"),
        ("longname1", "x@example.com", "LongName1"),
        ("alice", "mailbox12@example.com", "mailbox12"),
    ],
    ids=["common", "repetitive", "same-as-username", "same-as-email"],
)
async def test_register_refuses_weak_passwords(
    client: httpx.AsyncClient, ctx: Any, username: str, email: str, password: str
) -> None:
    response = await register(client, username, email=email, password=password)
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["details"]["fields"]
    assert fields[0]["field"] == "password"
    assert fields[0]["type"] == "weak_password"
    assert await user_count(ctx) == 0


async def test_register_oversize_body_is_413(client: httpx.AsyncClient, ctx: Any) -> None:
    limit = ctx.settings.max_body_bytes
    response = await register(client, display_name="x" * (limit + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await user_count(ctx) == 0


async def test_register_from_a_foreign_origin_is_refused(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "a@example.com", "username": "alice", "password": PASSWORD},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert await user_count(ctx) == 0


async def test_register_when_closed_is_forbidden(client: httpx.AsyncClient, ctx: Any) -> None:
    use_settings(ctx, {"registration_open": False})
    response = await register(client)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert await user_count(ctx) == 0


async def test_register_is_rate_limited_per_ip(client: httpx.AsyncClient, ctx: Any) -> None:
    use_settings(ctx, {"rate_limit_register": "2/minute"})
    for name in ("alice", "bob"):
        assert (await register(client, name)).status_code == 201
    response = await register(client, "carol")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response.headers["retry-after"]) >= 1
    assert await user_count(ctx) == 2


@BOTH_DATABASES
@pytest.mark.parametrize("login", ["alice", "ALICE", "alice@example.com", "Alice@EXAMPLE.com"])
async def test_login_with_username_or_email(
    client: httpx.AsyncClient, ctx: Any, login: str
) -> None:
    await signed_up(client)
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "alice"
    assert response.json()["csrf_token"]
    assert (await client.get("/api/v1/me")).status_code == 200
    assert await session_count(ctx) == 2


@BOTH_DATABASES
async def test_wrong_password_and_unknown_user_look_the_same(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    client.cookies.clear()
    wrong = await client.post(
        "/api/v1/auth/login", json={"login": "alice", "password": "nope!nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"login": "nobody", "password": "nope!nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    assert "set-cookie" not in wrong.headers
    assert await session_count(ctx) == 1


@pytest.mark.parametrize(
    "body",
    [{"login": "alice"}, {"password": PASSWORD}, {"login": "", "password": PASSWORD},
     {"login": "alice", "password": None}, {"login": 1, "password": PASSWORD}],
    ids=["no-password", "no-login", "empty-login", "null-password", "int-login"],
)  # fmt: skip
async def test_login_refuses_invalid_bodies(
    client: httpx.AsyncClient, ctx: Any, body: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert await session_count(ctx) == 0


async def test_login_of_a_disabled_account_is_forbidden(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    await update_user(ctx, "alice", is_active=False)
    client.cookies.clear()
    response = await client.post(
        "/api/v1/auth/login", json={"login": "alice", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This account is disabled."
    # A wrong password does not reveal that the account exists and is disabled.
    wrong = await client.post("/api/v1/auth/login", json={"login": "alice", "password": "x" * 9})
    assert wrong.status_code == 401
    assert await session_count(ctx) == 1


async def test_disabled_account_loses_its_session(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    await update_user(ctx, "alice", is_active=False)
    response = await client.get("/api/v1/me")
    assert response.status_code == 401


async def test_login_is_rate_limited_per_account(app: Any, ctx: Any) -> None:
    use_settings(ctx, {"rate_limit_login": "3/minute"})
    statuses = []
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        transport = httpx.ASGITransport(app=app, client=(ip, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            response = await other.post(
                "/api/v1/auth/login", json={"login": "Victim", "password": "guess-guess"}
            )
            statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]
    assert "retry-after" in response.headers


async def test_login_is_rate_limited_per_ip(client: httpx.AsyncClient, ctx: Any) -> None:
    use_settings(ctx, {"rate_limit_login_ip": "3/minute"})
    await signed_up(client)
    statuses = []
    for name in ("u1", "u2", "u3", "alice"):
        response = await client.post(
            "/api/v1/auth/login", json={"login": name, "password": PASSWORD}
        )
        statuses.append(response.status_code)
    # The last attempt has the right password but the IP is over its budget: no session.
    assert statuses == [401, 401, 401, 429]
    assert response.json()["error"]["code"] == "rate_limited"
    assert await session_count(ctx) == 1


async def test_login_rehashes_a_password_with_old_parameters(
    client: httpx.AsyncClient, ctx: Any, fast_password_hasher: PasswordHasher
) -> None:
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    security.set_password_hasher(old)
    await signed_up(client)
    before = await user_row(ctx, "alice")
    assert before is not None
    assert before.password_hash is not None
    assert "t=2" in before.password_hash
    security.set_password_hasher(fast_password_hasher)
    client.cookies.clear()
    response = await client.post(
        "/api/v1/auth/login", json={"login": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200
    after = await user_row(ctx, "alice")
    assert after is not None
    assert after.password_hash is not None
    assert "t=1" in after.password_hash
    assert after.password_hash != before.password_hash


@BOTH_DATABASES
async def test_concurrent_sign_ups_with_one_username_never_500(app: Any, ctx: Any) -> None:
    async def attempt(i: int) -> int:
        transport = httpx.ASGITransport(app=app, client=(f"10.1.0.{i}", 1000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await register(c, "Racer", email=f"racer{i}@example.com")
            return response.status_code

    statuses = await asyncio.gather(*(attempt(i) for i in range(4)))
    assert sorted(statuses) == [201, 409, 409, 409]
    assert await user_count(ctx) == 1
