"""Profiles, avatars, roles, and the service functions other domains call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from hub.accounts import credentials, tokens, users
from hub.accounts.models import BrowserSession, RefreshToken
from hub.accounts.roles import UserRole
from hub.db import utcnow
from hub.errors import Conflict, ValidationFailed
from tests.conftest import TEST_ORIGIN
from tests.helpers import BOTH_DATABASES

from .helpers import bearer, signed_up, token_pair, update_user, user_row


async def test_patch_me_updates_display_name_and_bio(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    response = await client.patch(
        "/api/v1/me",
        json={"display_name": "  Alice A.  ", "bio": "Draws cats.\nAnd dogs."},
        headers={"x-csrf-token": csrf},
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice A."
    assert response.json()["bio"] == "Draws cats.\nAnd dogs."
    user = await user_row(ctx, "alice")
    assert user is not None
    assert (user.display_name, user.bio) == ("Alice A.", "Draws cats.\nAnd dogs.")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"display_name": None, "bio": None},
        {"display_name": ""},
        {"display_name": "x" * 65},
        {"display_name": "bad\u202ename"},
        {"bio": "x" * 501},
        {"bio": 5},
        {"bio": "ok", "role": "admin"},
        {"email": "new@example.com"},
    ],
)
async def test_patch_me_refuses_bad_input(
    client: httpx.AsyncClient, ctx: Any, body: dict[str, Any]
) -> None:
    csrf = await signed_up(client, display_name="Alice")
    response = await client.patch("/api/v1/me", json=body, headers={"x-csrf-token": csrf})
    assert response.status_code == 422, body
    assert response.json()["error"]["code"] == "validation_error"
    user = await user_row(ctx, "alice")
    assert user is not None
    assert (user.display_name, user.bio, user.role) == ("Alice", "", "user")


async def test_patch_me_anonymous_is_401(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/v1/me", json={"bio": "x"})
    assert response.status_code == 401


async def test_public_profile_hides_private_fields(client: httpx.AsyncClient) -> None:
    await signed_up(client, "Alice", display_name="<b>Alice</b>")
    client.cookies.clear()
    response = await client.get("/api/v1/users/alice")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "Alice"
    assert body["display_name"] == "<b>Alice</b>"
    assert "email" not in body
    assert "is_active" not in body


async def test_unknown_or_disabled_profile_is_404(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    assert (await client.get("/api/v1/users/nobody")).status_code == 404
    await update_user(ctx, "alice", is_active=False)
    response = await client.get("/api/v1/users/alice")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_avatar_is_a_deterministic_svg(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v1/users/alice/avatar.svg")
    again = await client.get("/api/v1/users/ALICE/avatar.svg")
    other = await client.get("/api/v1/users/bob/avatar.svg")
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/svg+xml"
    assert "max-age" in first.headers["cache-control"]
    assert first.text.startswith("<svg")
    assert first.text == again.text
    assert first.text != other.text
    assert (await client.get("/api/v1/users/a%3Cb/avatar.svg")).status_code == 404


async def test_admin_changes_roles(client: httpx.AsyncClient, ctx: Any, app: Any) -> None:
    await signed_up(client, "boss")
    await update_user(ctx, "boss", role="admin")
    admin = await token_pair(client, "boss")
    target = await user_row(ctx, "boss")
    assert target is not None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_ORIGIN, headers={"origin": TEST_ORIGIN}
    ) as other:
        await signed_up(other, "carol")
    carol = await user_row(ctx, "carol")
    assert carol is not None
    path = f"/api/v1/admin/users/{carol.user_id}/role"
    response = await client.patch(
        path, json={"role": "moderator"}, headers=bearer(admin["access_token"])
    )
    assert response.status_code == 200
    assert response.json()["role"] == "moderator"
    changed = await user_row(ctx, "carol")
    assert changed is not None
    assert changed.role == "moderator"


async def test_role_change_bad_input(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client, "boss")
    await update_user(ctx, "boss", role="admin")
    admin = bearer((await token_pair(client, "boss"))["access_token"])
    boss = await user_row(ctx, "boss")
    assert boss is not None
    cases = [
        (f"/api/v1/admin/users/{boss.user_id}/role", {"role": "god"}, 422),
        (f"/api/v1/admin/users/{boss.user_id}/role", {}, 422),
        ("/api/v1/admin/users/999/role", {"role": "user"}, 404),
        ("/api/v1/admin/users/abc/role", {"role": "user"}, 404),
        # The only admin cannot demote themself: nobody could promote anyone afterwards.
        (f"/api/v1/admin/users/{boss.user_id}/role", {"role": "user"}, 409),
    ]
    for path, body, status in cases:
        response = await client.patch(path, json=body, headers=admin)
        assert response.status_code == status, (path, body, response.text)
    after = await user_row(ctx, "boss")
    assert after is not None
    assert after.role == "admin"


async def test_non_admins_cannot_change_roles(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client, "mallory")
    await update_user(ctx, "mallory", role="moderator")
    me = await user_row(ctx, "mallory")
    assert me is not None
    response = await client.patch(
        f"/api/v1/admin/users/{me.user_id}/role",
        json={"role": "admin"},
        headers={"x-csrf-token": csrf},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    after = await user_row(ctx, "mallory")
    assert after is not None
    assert after.role == "moderator"


async def test_role_change_is_visible_to_existing_credentials_at_once(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    pair = await token_pair(client)
    await update_user(ctx, "alice", role="moderator")
    me = await client.get("/api/v1/me", headers=bearer(pair["access_token"]))
    assert me.json()["role"] == "moderator"


# --- service API for other domains -------------------------------------------------------------


@BOTH_DATABASES
async def test_service_user_lookups(ctx: Any) -> None:
    async with ctx.db.unit_of_work() as session:
        alice = await users.create_user(
            session, email="Alice@Example.com", username="Alice", password="long enough pw"
        )
        bob = await users.create_user(
            session, email="bob@example.com", username="bob", password=None, role=UserRole.MODERATOR
        )
    assert alice.user_id is not None
    assert bob.user_id is not None
    async with ctx.db.unit_of_work() as session:
        found = await users.get_users(session, [bob.user_id, alice.user_id, 999, alice.user_id])
        assert set(found) == {alice.user_id, bob.user_id}
        assert found[bob.user_id].role == "moderator"
        assert await users.get_users(session, []) == {}
        by_name = await users.get_user_by_username(session, "ALICE")
        by_email = await users.get_user_by_email(session, " alice@example.COM ")
        assert by_name is not None
        assert by_email is not None
        assert by_name.user_id == by_email.user_id == alice.user_id
        assert await users.get_user(session, 999) is None
        assert await users.get_user_by_username(session, "nobody") is None
    async with ctx.db.unit_of_work() as session:
        user = await users.get_user(session, bob.user_id)
        assert user is not None
        row, secret = await tokens.create_personal_token(session, user, name="ci")
    assert secret.startswith("hub_pat_")
    assert row.token_id is not None


async def test_service_create_user_validates(ctx: Any) -> None:
    async with ctx.db.unit_of_work() as session:
        await users.create_user(session, email="a@example.com", username="alice", password=None)
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"email": "A@example.com", "username": "other"}, Conflict),
        ({"email": "b@example.com", "username": "ALICE"}, Conflict),
        ({"email": "bad", "username": "bob"}, ValidationFailed),
        ({"email": "b@example.com", "username": "no"}, ValidationFailed),
        ({"email": "b@example.com", "username": "bob", "password": "short"}, ValidationFailed),
        ({"email": "b@example.com", "username": "bob", "role": "root"}, ValidationFailed),
    ]
    for kwargs, error in cases:
        with pytest.raises(error):
            async with ctx.db.unit_of_work() as session:
                await users.create_user(session, **{"password": None, **kwargs})


async def test_derive_username_avoids_taken_and_reserved_names(ctx: Any) -> None:
    async with ctx.db.unit_of_work() as session:
        await users.create_user(session, email="j@example.com", username="jane_doe", password=None)
    async with ctx.db.unit_of_work() as session:
        derived = await users.derive_username(session, "Jane Doe")
        assert derived.startswith("jane_doe_") or derived.startswith("Jane_Doe_")
        assert await users.derive_username(session, None, "李", "x.y+z") == "x_y_z"
        assert await users.derive_username(session, "admin") != "admin"
        assert (await users.derive_username(session, "")).startswith("user_")
        assert len(await users.derive_username(session, "a" * 80)) <= 32


async def test_purge_expired_removes_old_sessions_and_refresh_tokens(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    await token_pair(client)
    past = utcnow() - timedelta(seconds=1)
    async with ctx.db.unit_of_work() as session:
        await session.execute(update(BrowserSession).values(expires_at=past))
        await session.execute(update(RefreshToken).values(expires_at=past))
    async with ctx.db.unit_of_work() as session:
        assert await credentials.purge_expired(session) == 2
    async with ctx.db.unit_of_work() as session:
        assert (await session.scalars(select(BrowserSession))).all() == []


async def test_openapi_documents_the_accounts_operations(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/v1/openapi.json")).json()
    paths = doc["paths"]
    expected = {
        "/api/v1/auth/register": "post",
        "/api/v1/auth/login": "post",
        "/api/v1/auth/logout": "post",
        "/api/v1/auth/token": "post",
        "/api/v1/auth/refresh": "post",
        "/api/v1/auth/revoke": "post",
        "/api/v1/me": "patch",
        "/api/v1/me/password": "post",
        "/api/v1/me/tokens/{token_id}": "delete",
        "/api/v1/users/{username}/avatar.svg": "get",
        "/api/v1/admin/users/{user_id}/role": "patch",
    }
    for path, method in expected.items():
        assert method in paths[path], path
    assert "409" in paths["/api/v1/auth/register"]["post"]["responses"]
    assert paths["/api/v1/me"]["get"]["security"]
    assert "RegisterIn" in doc["components"]["schemas"]
