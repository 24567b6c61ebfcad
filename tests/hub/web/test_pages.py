"""The start page: rooms lists, the create-room form (CSRF-protected), empty states."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest


async def _sign_up(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": f"{name}@example.com", "username": name, "password": "long enough pw"},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["csrf_token"]
    return token


async def test_home_signed_out_shows_sign_in_and_empty_state(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "Sign in" in response.text
    assert "No public rooms yet." in response.text
    assert "Start a room" not in response.text


async def test_create_room_from_the_form_redirects_to_the_room(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await _sign_up(client, "ada")
    home = await client.get("/")
    assert "No rooms yet." in home.text
    response = await client.post(
        "/rooms/new", data={"title": "Koi <pond>", "visibility": "public", "csrf_token": csrf}
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/r/")
    home = await client.get("/")
    assert "Koi &lt;pond&gt;" in home.text  # listed, and escaped
    assert re.search(r"owner", home.text)


async def test_create_room_form_without_csrf_is_refused(client: httpx.AsyncClient) -> None:
    await _sign_up(client, "bob")
    response = await client.post("/rooms/new", data={"title": "x", "visibility": "private"})
    assert response.status_code == 403
    home = await client.get("/")
    assert "No rooms yet." in home.text


async def test_create_room_form_with_empty_title_shows_the_error(
    client: httpx.AsyncClient,
) -> None:
    csrf = await _sign_up(client, "cyd")
    response = await client.post(
        "/rooms/new", data={"title": "  ", "visibility": "private", "csrf_token": csrf}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?error=title"
    page = await client.get("/?error=title")
    assert "Give the room a title" in page.text


async def test_create_room_form_signed_out_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/rooms/new", data={"title": "x"})
    assert response.status_code == 401


async def test_home_reads_who_is_online_once(
    client: httpx.AsyncClient, ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _sign_up(client, "eve")  # signed in: both lists, yours and the public rooms
    reads: list[None] = []
    live_counts = ctx.rooms.live_counts

    async def counted() -> dict[str, int]:
        reads.append(None)
        counts: dict[str, int] = await live_counts()
        return counts

    monkeypatch.setattr(ctx.rooms, "live_counts", counted)
    response = await client.get("/")
    assert response.status_code == 200
    assert "No rooms yet." in response.text
    assert len(reads) == 1
