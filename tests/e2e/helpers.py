"""Shared set-up for the browser tests: Debian chromium, two signed-up people in one room, and a
room page that records every page error and failed response."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import service_missing

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "rainy-Cats-42-in-town"


async def sign_up(http: httpx.AsyncClient, username: str, name: str) -> tuple[str, str]:
    response = await http.post(
        "/api/v1/auth/register",
        json={
            "email": f"{username}@example.test",
            "username": username,
            "password": PASSWORD,
            "display_name": name,
        },
    )
    assert response.status_code == 201, response.text
    cookie = response.cookies.get("hub_session")
    assert cookie
    return cookie, response.json()["csrf_token"]


def as_user(cookie: str, csrf: str | None = None) -> dict[str, str]:
    headers = {"cookie": f"hub_session={cookie}"}
    if csrf:
        headers["x-csrf-token"] = csrf
    return headers


@dataclass(frozen=True)
class SharedRoom:
    slug: str
    alice_cookie: str
    bob_cookie: str


async def room_with_editor(origin: str, title: str) -> SharedRoom:
    """Alice owns a new room titled ``title``; Bob joined it as an editor through an invite."""
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        alice_cookie, alice_csrf = await sign_up(http, "alice", "Alice")
        http.cookies.clear()
        bob_cookie, bob_csrf = await sign_up(http, "bob", "Bob 鲍勃")
        http.cookies.clear()
        room = await http.post(
            "/api/v1/rooms", json={"title": title}, headers=as_user(alice_cookie, alice_csrf)
        )
        assert room.status_code == 201, room.text
        slug = room.json()["slug"]
        invite = await http.post(
            f"/api/v1/rooms/{slug}/invites",
            json={"role": "editor"},
            headers=as_user(alice_cookie, alice_csrf),
        )
        accepted = await http.post(
            f"/api/v1/invites/{invite.json()['token']}/accept",
            headers=as_user(bob_cookie, bob_csrf),
        )
        assert accepted.status_code == 200, accepted.text
    return SharedRoom(slug, alice_cookie, bob_cookie)


def require_chromium() -> None:
    """Skips loudly without the browser (fails under CI)."""
    if not CHROMIUM.exists():
        service_missing("chromium", f"{CHROMIUM} is missing (apt-get install -y chromium)")


def record_problems(page: Any, problems: list[str], who: str = "") -> None:
    """Appends the page's script errors and its 4xx/5xx responses (but a missing favicon) to
    ``problems``, each led by ``who`` when given."""
    lead = f"{who} " if who else ""
    page.on("pageerror", lambda e: problems.append(f"{lead}pageerror: {e}"))
    page.on(
        "response",
        lambda r: (
            problems.append(f"{lead}{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )


async def open_room_page(
    browser: Any, origin: str, slug: str, cookie: str, problems: list[str]
) -> Any:
    """A signed-in page on ``/r/{slug}`` once its socket is live; page errors and 4xx/5xx
    responses are appended to ``problems`` (the tests assert it stays empty)."""
    from playwright.async_api import expect

    context = await browser.new_context()
    await context.add_cookies([{"name": "hub_session", "value": cookie, "url": origin}])
    page = await context.new_page()
    record_problems(page, problems)
    await page.goto(f"{origin}/r/{slug}")
    await expect(page.locator("#status")).to_have_text("live", timeout=10_000)
    return page
