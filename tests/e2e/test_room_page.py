"""The plain room page in a real browser (Debian chromium via Playwright): two signed-in people
co-edit the prompt (Chinese included), see each other, and chat."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.helpers import (
    ARGS,
    CHROMIUM,
    as_user,
    open_room_page,
    require_chromium,
    room_with_editor,
)
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


async def test_two_people_share_a_room_page(live_server: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import Page, async_playwright, expect

    origin = live_server.http_url
    shared = await room_with_editor(origin, "雨中的猫")
    slug, alice_cookie, bob_cookie = shared.slug, shared.alice_cookie, shared.bob_cookie
    problems: list[str] = []

    async def open_page(browser: Any, cookie: str) -> Page:
        page: Page = await open_room_page(browser, origin, slug, cookie, problems)
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
        doc = await http.get(f"/api/v1/rooms/{slug}/document", headers=as_user(alice_cookie))
        assert doc.json()["prompt"] == expected + "!"
    assert problems == []
