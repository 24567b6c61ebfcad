"""Browser sessions: logout, CSRF and Origin checks, password change, sliding expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlmodel import col

from hub.accounts.models import BrowserSession, RefreshFamily
from hub.db import utcnow
from tests.conftest import TEST_ORIGIN
from tests.helpers import BOTH_DATABASES

from .helpers import (
    PASSWORD,
    bearer,
    count,
    live_families,
    session_count,
    signed_up,
    token_pair,
    use_settings,
    user_row,
)

NEW_PASSWORD = "a different passphrase"


async def _second_browser(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(
        transport=transport, base_url=TEST_ORIGIN, headers={"origin": TEST_ORIGIN}
    )


@BOTH_DATABASES
async def test_logout_deletes_the_session_and_refuses_the_old_cookie(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    old_cookie = client.cookies["hub_session"]
    response = await client.post("/api/v1/auth/logout", headers={"x-csrf-token": csrf})
    assert response.status_code == 204
    assert (
        'hub_session=""' in response.headers["set-cookie"]
        or "Max-Age=0" in (response.headers["set-cookie"])
    )
    assert await session_count(ctx) == 0
    # A copy of the cookie taken before logout (a replay) is refused.
    client.cookies.clear()
    client.cookies.set("hub_session", old_cookie)
    me = await client.get("/api/v1/me")
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "unauthenticated"


async def test_logout_without_csrf_keeps_the_session(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    response = await client.post("/api/v1/auth/logout")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert await session_count(ctx) == 1
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_logout_without_a_session_is_harmless(client: httpx.AsyncClient, ctx: Any) -> None:
    response = await client.post("/api/v1/auth/logout")
    assert response.status_code == 204
    assert await session_count(ctx) == 0


async def test_unsafe_cookie_request_without_csrf_changes_nothing(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client, display_name="Before")
    response = await client.patch("/api/v1/me", json={"display_name": "After"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    user = await user_row(ctx, "alice")
    assert user is not None
    assert user.display_name == "Before"


async def test_unsafe_cookie_request_with_wrong_csrf_changes_nothing(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client, display_name="Before")
    for wrong in ("", "x", csrf[:-1], csrf + "x", csrf.upper()):
        response = await client.patch(
            "/api/v1/me", json={"display_name": "After"}, headers={"x-csrf-token": wrong}
        )
        assert response.status_code == 403, wrong
        assert response.json()["error"]["code"] == "csrf_failed"
    user = await user_row(ctx, "alice")
    assert user is not None
    assert user.display_name == "Before"


async def test_csrf_token_of_another_session_is_refused(
    app: Any, client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client, display_name="Before")
    async with await _second_browser(app) as other:
        other_csrf = await signed_up(other, "bob")
    response = await client.patch(
        "/api/v1/me", json={"display_name": "After"}, headers={"x-csrf-token": other_csrf}
    )
    assert response.status_code == 403


async def test_unsafe_cookie_request_from_a_foreign_origin_is_refused(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client, display_name="Before")
    for origin in ("https://evil.example", "null", "http://testserver.evil.example"):
        response = await client.patch(
            "/api/v1/me",
            json={"display_name": "After"},
            headers={"x-csrf-token": csrf, "origin": origin},
        )
        assert response.status_code == 403, origin
        assert response.json()["error"]["code"] == "csrf_failed"
    user = await user_row(ctx, "alice")
    assert user is not None
    assert user.display_name == "Before"


async def test_allowed_extra_origin_and_missing_origin_pass(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    use_settings(ctx, {"cors_origins": ["https://app.example"]})
    csrf = await signed_up(client)
    allowed = await client.patch(
        "/api/v1/me",
        json={"bio": "one"},
        headers={"x-csrf-token": csrf, "origin": "https://app.example"},
    )
    assert allowed.status_code == 200
    del client.headers["origin"]
    no_origin = await client.patch(
        "/api/v1/me", json={"bio": "two"}, headers={"x-csrf-token": csrf}
    )
    assert no_origin.status_code == 200
    assert no_origin.json()["bio"] == "two"


async def test_safe_cookie_requests_need_no_csrf(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    response = await client.get("/api/v1/me", headers={"origin": "https://evil.example"})
    assert response.status_code == 200


async def test_bearer_requests_are_exempt_from_csrf(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    pair = await token_pair(client)
    client.cookies.clear()
    response = await client.patch(
        "/api/v1/me",
        json={"display_name": "Via token"},
        headers={**bearer(pair["access_token"]), "origin": "https://elsewhere.example"},
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Via token"


async def test_session_endpoint_returns_the_csrf_token(client: httpx.AsyncClient) -> None:
    csrf = await signed_up(client)
    response = await client.get("/api/v1/auth/session")
    assert response.status_code == 200
    assert response.json()["csrf_token"] == csrf
    assert response.json()["user"]["username"] == "alice"


async def test_session_endpoint_without_a_session_is_401(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    pair = await token_pair(client)
    client.cookies.clear()
    assert (await client.get("/api/v1/auth/session")).status_code == 401
    response = await client.get("/api/v1/auth/session", headers=bearer(pair["access_token"]))
    assert response.status_code == 401


async def test_login_replaces_the_browsers_previous_session(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    response = await client.post(
        "/api/v1/auth/login", json={"login": "alice", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert await session_count(ctx) == 1


@BOTH_DATABASES
async def test_password_change_revokes_other_sessions_and_token_families(
    app: Any, client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    async with await _second_browser(app) as other:
        login = await other.post(
            "/api/v1/auth/login", json={"login": "alice", "password": PASSWORD}
        )
        assert login.status_code == 200
        pair = await token_pair(other)
        assert await session_count(ctx) == 2
        response = await client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers={"x-csrf-token": csrf},
        )
        assert response.status_code == 204
        # This browser stays signed in; the other browser and the API client are out.
        assert (await client.get("/api/v1/me")).status_code == 200
        assert (await other.get("/api/v1/me")).status_code == 401
        other.cookies.clear()
        stale = await other.get("/api/v1/me", headers=bearer(pair["access_token"]))
        assert stale.status_code == 401
        assert stale.json()["error"]["code"] == "token_invalid"
        refresh = await other.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refresh.status_code == 401
    assert await session_count(ctx) == 1
    assert await live_families(ctx) == 0
    old = await client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post("/api/v1/auth/login", json={"login": "alice", "password": NEW_PASSWORD})
    assert new.status_code == 200


async def test_password_change_with_an_access_token_keeps_its_family(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    keep = await token_pair(client)
    drop = await token_pair(client)
    client.cookies.clear()
    response = await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(keep["access_token"]),
    )
    assert response.status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(keep["access_token"]))).status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(drop["access_token"]))).status_code == 401
    assert await live_families(ctx) == 1
    assert await session_count(ctx) == 0


async def test_password_change_with_a_wrong_current_password_changes_nothing(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    await token_pair(client)
    before = await user_row(ctx, "alice")
    response = await client.post(
        "/api/v1/me/password",
        json={"current_password": "not the one", "new_password": NEW_PASSWORD},
        headers={"x-csrf-token": csrf},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_credentials"
    after = await user_row(ctx, "alice")
    assert before is not None
    assert after is not None
    assert after.password_hash == before.password_hash
    assert await live_families(ctx) == 1


async def test_password_change_refuses_weak_and_missing_passwords(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    before = await user_row(ctx, "alice")
    bodies: list[dict[str, Any]] = [
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD, "new_password": "password123"},
        {"current_password": PASSWORD, "new_password": "x" * 257},
        {"current_password": PASSWORD},
        {"current_password": PASSWORD, "new_password": 123456789},
    ]
    for body in bodies:
        response = await client.post(
            "/api/v1/me/password", json=body, headers={"x-csrf-token": csrf}
        )
        assert response.status_code == 422, body
    # Without the current password (this account has one), the change is refused.
    response = await client.post(
        "/api/v1/me/password", json={"new_password": NEW_PASSWORD}, headers={"x-csrf-token": csrf}
    )
    assert response.status_code == 403
    after = await user_row(ctx, "alice")
    assert before is not None
    assert after is not None
    assert after.password_hash == before.password_hash


async def test_password_change_is_rate_limited(client: httpx.AsyncClient, ctx: Any) -> None:
    use_settings(ctx, {"rate_limit_login": "2/minute"})
    csrf = await signed_up(client)
    statuses = []
    for _ in range(3):
        response = await client.post(
            "/api/v1/me/password",
            json={"current_password": "guess guess", "new_password": NEW_PASSWORD},
            headers={"x-csrf-token": csrf},
        )
        statuses.append(response.status_code)
    assert statuses == [403, 403, 429]


async def test_expired_session_is_refused_and_removed(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(BrowserSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await client.get("/api/v1/me")).status_code == 401
    assert await session_count(ctx) == 0


async def test_active_session_slides_and_cookie_is_sent_again(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    stale = utcnow() - timedelta(minutes=10)
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(BrowserSession).values(last_seen_at=stale, expires_at=stale + timedelta(hours=1))
        )
    response = await client.get("/api/v1/me")
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("hub_session=")
    assert f"Max-Age={ctx.settings.session_max_age}" in cookie
    async with ctx.db.unit_of_work() as session:
        row = await session.scalar(select(BrowserSession))
    assert row is not None
    assert row.last_seen_at > stale + timedelta(minutes=9)
    assert row.expires_at > utcnow() + timedelta(seconds=ctx.settings.session_max_age - 60)
    # A second request within the touch interval writes nothing and sends no cookie.
    again = await client.get("/api/v1/me")
    assert "set-cookie" not in again.headers


async def test_recent_session_is_not_rewritten(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    response = await client.get("/api/v1/me")
    assert "set-cookie" not in response.headers


async def test_refreshed_cookie_is_not_resent_on_logout(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client)
    stale = utcnow() - timedelta(minutes=10)
    async with ctx.db.unit_of_work() as session:
        await session.execute(update(BrowserSession).values(last_seen_at=stale))
    response = await client.post("/api/v1/auth/logout", headers={"x-csrf-token": csrf})
    assert response.status_code == 204
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 1
    assert "Max-Age=0" in cookies[0] or 'hub_session=""' in cookies[0]


async def test_revoked_family_count_helper_sees_reason(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    await token_pair(client)
    await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"x-csrf-token": csrf},
    )
    revoked = await count(
        ctx, RefreshFamily, col(RefreshFamily.revoked_reason) == "password_changed"
    )
    assert revoked == 1


@BOTH_DATABASES
async def test_expired_credentials_count_as_ended_for_sockets(ctx: Any) -> None:
    # After a bus outage every process asks which of its sockets' credentials ended; a session
    # or personal token past its expiry admits nobody, so its sockets must close too.
    from hub.accounts.credentials import (
        NO_SOCKETS,
        ended_credentials,
        personal_token_key,
        session_key,
    )
    from hub.accounts.models import ApiToken
    from hub.accounts.sessions import start_session
    from hub.accounts.tokens import create_personal_token
    from hub.accounts.users import create_user

    async with ctx.db.unit_of_work() as session:
        user = await create_user(session, email="e@example.test", username="erin", password=None)
        live = await start_session(session, user, sockets=NO_SOCKETS)
        old = await start_session(session, user, sockets=NO_SOCKETS)
        fresh_token, _ = await create_personal_token(session, user, name="fresh")
        old_token, _ = await create_personal_token(session, user, name="old", expires_in_days=1)
    past = utcnow() - timedelta(minutes=1)
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(BrowserSession)
            .where(col(BrowserSession.session_id) == old.session_id)
            .values(expires_at=past)
        )
        await session.execute(
            update(ApiToken)
            .where(col(ApiToken.token_id) == old_token.token_id)
            .values(expires_at=past)
        )
    keys = [
        session_key(live.session_id),
        session_key(old.session_id),
        personal_token_key(str(fresh_token.token_id)),
        personal_token_key(str(old_token.token_id)),
    ]
    async with ctx.db.unit_of_work() as session:
        ended = await ended_credentials(session, keys)
    assert ended == {keys[1], keys[3]}
