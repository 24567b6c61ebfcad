"""The HTML pages: /login, /register, /logout with their CSRF protection."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from .helpers import PASSWORD, session_count, signed_up, use_settings, user_count

HTML = {"accept": "text/html"}


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return match.group(1)


async def _form_token(client: httpx.AsyncClient, path: str = "/login") -> str:
    page = await client.get(path, headers=HTML)
    assert page.status_code == 200
    assert "hub_csrf=" in page.headers["set-cookie"]
    return _hidden(page.text, "csrf_token")


async def test_login_page_renders_a_form_with_a_csrf_token(client: httpx.AsyncClient) -> None:
    page = await client.get("/login", headers=HTML)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert '<form method="post" action="/login"' in page.text
    token = _hidden(page.text, "csrf_token")
    assert client.cookies["hub_csrf"] == token
    # A second visit keeps the same token (two open tabs both work).
    assert await _form_token(client) == token


async def test_login_form_signs_in_and_redirects(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    client.cookies.clear()
    token = await _form_token(client)
    response = await client.post(
        "/login",
        data={"login": "alice", "password": PASSWORD, "csrf_token": token, "next": "/rooms/x"},
        headers=HTML,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/rooms/x"
    assert "hub_session=" in response.headers["set-cookie"]
    assert (await client.get("/api/v1/me")).status_code == 200
    assert await session_count(ctx) == 2  # the sign-up's session plus this one


@pytest.mark.parametrize(
    "next_url", ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:x"]
)
async def test_login_form_never_redirects_off_site(
    client: httpx.AsyncClient, next_url: str
) -> None:
    await signed_up(client)
    client.cookies.clear()
    token = await _form_token(client)
    response = await client.post(
        "/login",
        data={"login": "alice", "password": PASSWORD, "csrf_token": token, "next": next_url},
        headers=HTML,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_login_form_with_wrong_password_rerenders(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    client.cookies.clear()
    token = await _form_token(client)
    response = await client.post(
        "/login",
        data={"login": "alice", "password": "wrong password", "csrf_token": token},
        headers=HTML,
    )
    assert response.status_code == 401
    assert "Wrong email/username or password." in response.text
    assert 'value="alice"' in response.text
    assert "wrong password" not in response.text
    assert "hub_session" not in response.headers.get("set-cookie", "")
    assert await session_count(ctx) == 1


@pytest.mark.parametrize("case", ["no-cookie", "no-field", "mismatch", "foreign-origin"])
async def test_login_form_csrf_failures_sign_nobody_in(
    client: httpx.AsyncClient, ctx: Any, case: str
) -> None:
    await signed_up(client)
    client.cookies.clear()
    token = await _form_token(client)
    data = {"login": "alice", "password": PASSWORD, "csrf_token": token}
    headers = dict(HTML)
    if case == "no-cookie":
        client.cookies.clear()
    elif case == "no-field":
        del data["csrf_token"]
    elif case == "mismatch":
        data["csrf_token"] = token[::-1]
    else:
        headers["origin"] = "https://evil.example"
    response = await client.post("/login", data=data, headers=headers)
    assert response.status_code == 403
    assert "hub_session" not in response.headers.get("set-cookie", "")
    assert await session_count(ctx) == 1


async def test_register_form_creates_the_account(client: httpx.AsyncClient, ctx: Any) -> None:
    token = await _form_token(client, "/register")
    response = await client.post(
        "/register",
        data={
            "email": "new@example.com",
            "username": "newbie",
            "password": PASSWORD,
            "display_name": "",
            "csrf_token": token,
        },
        headers=HTML,
    )
    assert response.status_code == 303
    me = await client.get("/api/v1/me")
    assert me.json()["username"] == "newbie"
    assert me.json()["display_name"] == "newbie"


async def test_register_form_shows_field_errors_and_keeps_values(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    token = await _form_token(client, "/register")
    response = await client.post(
        "/register",
        data={
            "email": "not-an-email",
            "username": "x",
            "password": "short",
            "display_name": "Xavier",
            "csrf_token": token,
        },
        headers=HTML,
    )
    assert response.status_code == 422
    assert "is not a valid email address" in response.text
    assert 'value="not-an-email"' in response.text
    assert 'value="Xavier"' in response.text
    assert await user_count(ctx) == 0


async def test_register_form_duplicate_is_409(client: httpx.AsyncClient, ctx: Any) -> None:
    await signed_up(client)
    client.cookies.clear()
    token = await _form_token(client, "/register")
    response = await client.post(
        "/register",
        data={
            "email": "ALICE@example.com",
            "username": "other",
            "password": PASSWORD,
            "csrf_token": token,
        },
        headers=HTML,
    )
    assert response.status_code == 409
    assert "already exists" in response.text
    assert await user_count(ctx) == 1


async def test_register_page_when_closed(client: httpx.AsyncClient, ctx: Any) -> None:
    use_settings(ctx, {"registration_open": False})
    page = await client.get("/register", headers=HTML)
    assert "Registration is closed" in page.text
    assert 'action="/register"' not in page.text


async def test_pages_escape_user_content(client: httpx.AsyncClient) -> None:
    await signed_up(client, display_name="<script>alert(1)</script>")
    page = await client.get("/login", headers=HTML)
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_logout_form_flow(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    page = await client.get("/logout", headers=HTML)
    assert page.status_code == 200
    assert _hidden(page.text, "csrf_token") == csrf
    refused = await client.post("/logout", data={"csrf_token": "nope"}, headers=HTML)
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]
    assert await session_count(ctx) == 1
    response = await client.post("/logout", data={"csrf_token": csrf}, headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert await session_count(ctx) == 0
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_logout_page_without_session_redirects_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/logout", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


async def test_login_page_lists_identity_providers(client: httpx.AsyncClient, ctx: Any) -> None:
    use_settings(
        ctx, {"oidc_issuer": "https://idp.example", "oidc_client_id": "hub", "oidc_name": "ACME"}
    )
    page = await client.get("/login?next=/rooms/a", headers=HTML)
    assert 'href="/auth/oidc/oidc/login?next=/rooms/a"' in page.text or (
        'href="/auth/oidc/oidc/login?next=%2Frooms%2Fa"' in page.text
    )
    assert "ACME" in page.text
    providers = await client.get("/api/v1/auth/providers")
    assert providers.json() == {
        "providers": [{"name": "oidc", "label": "ACME", "login_url": "/auth/oidc/oidc/login"}]
    }
