"""The plain room page in a real browser (Debian chromium via Playwright): two signed-in people
co-edit the prompt (Chinese included), see each other, and chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import service_missing

pytestmark = pytest.mark.e2e

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


async def _sign_up(http: httpx.AsyncClient, username: str, name: str) -> tuple[str, str]:
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


def _as(cookie: str, csrf: str | None = None) -> dict[str, str]:
    headers = {"cookie": f"hub_session={cookie}"}
    if csrf:
        headers["x-csrf-token"] = csrf
    return headers


async def test_two_people_share_a_room_page(live_server: LiveServer) -> None:
    if not CHROMIUM.exists():
        service_missing("chromium", f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.async_api import Page, async_playwright, expect

    origin = live_server.http_url
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        alice_cookie, alice_csrf = await _sign_up(http, "alice", "Alice")
        http.cookies.clear()
        bob_cookie, bob_csrf = await _sign_up(http, "bob", "Bob 鲍勃")
        http.cookies.clear()
        room = await http.post(
            "/api/v1/rooms",
            json={"title": "雨中的猫"},
            headers=_as(alice_cookie, alice_csrf),
        )
        assert room.status_code == 201, room.text
        slug = room.json()["slug"]
        invite = await http.post(
            f"/api/v1/rooms/{slug}/invites",
            json={"role": "editor"},
            headers=_as(alice_cookie, alice_csrf),
        )
        token = invite.json()["token"]
        accepted = await http.post(
            f"/api/v1/invites/{token}/accept",
            headers=_as(bob_cookie, bob_csrf),
        )
        assert accepted.status_code == 200, accepted.text

    problems: list[str] = []

    async def open_page(browser: Any, cookie: str) -> Page:
        context = await browser.new_context()
        await context.add_cookies([{"name": "hub_session", "value": cookie, "url": origin}])
        page: Page = await context.new_page()
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        await page.goto(f"{origin}/r/{slug}")
        await expect(page.locator("#status")).to_have_text("live", timeout=10_000)
        return page

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            alice = await open_page(browser, alice_cookie)
            bob = await open_page(browser, bob_cookie)

            await alice.locator("#prompt").click()
            await alice.keyboard.type("一只猫 in the rain")
            await expect(bob.locator("#prompt")).to_have_value("一只猫 in the rain", timeout=10_000)
            # Bob edits in the middle while Alice's caret stays at the end.
            await bob.locator("#prompt").evaluate("el => el.setSelectionRange(3, 3)")
            await bob.locator("#prompt").focus()
            await bob.keyboard.type("、黑色的")
            expected = "一只猫、黑色的 in the rain"
            await expect(alice.locator("#prompt")).to_have_value(expected, timeout=10_000)
            await alice.keyboard.type("!")
            await expect(bob.locator("#prompt")).to_have_value(expected + "!", timeout=10_000)

            for page in (alice, bob):
                presence = page.locator("#presence")
                await expect(presence).to_contain_text("Alice", timeout=10_000)
                await expect(presence).to_contain_text("Bob 鲍勃", timeout=10_000)

            await bob.locator("#chat-text").fill("你好 Alice")
            await bob.locator("#chat-text").press("Enter")
            for page in (alice, bob):
                await expect(page.locator("#events")).to_contain_text(
                    "Bob 鲍勃: 你好 Alice", timeout=10_000
                )
        finally:
            await browser.close()

    async with httpx.AsyncClient(base_url=origin) as http:
        doc = await http.get(f"/api/v1/rooms/{slug}/document", headers=_as(alice_cookie))
        assert doc.json()["prompt"] == expected + "!"
    assert problems == []
