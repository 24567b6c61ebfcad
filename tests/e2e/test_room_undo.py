"""Collaborative undo and the prompt library on the room page, in a real browser (Debian
chromium via Playwright): two people edit the prompt and the parameters, and each one's undo
and redo take back only their own edits; a template from the library is used in a room, and a
suggestion completes what is typed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.helpers import (
    ARGS,
    CHROMIUM,
    as_user,
    open_room_page,
    record_problems,
    require_chromium,
    room_with_editor,
    sign_up,
)
from tests.live import LiveServer

pytestmark = pytest.mark.e2e
TIMEOUT = 10_000


async def test_undo_takes_back_only_your_own_edits(live_server: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live_server.http_url
    shared = await room_with_editor(origin, "Undo together")
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            alice = await open_room_page(
                browser, origin, shared.slug, shared.alice_cookie, problems
            )
            bob = await open_room_page(browser, origin, shared.slug, shared.bob_cookie, problems)

            await alice.locator("#prompt").click()
            await alice.keyboard.type("red fox")
            await expect(bob.locator("#prompt")).to_have_value("red fox", timeout=TIMEOUT)
            await bob.locator("#prompt").click()
            await bob.keyboard.press("End")
            await bob.keyboard.type(", 水彩 watercolor")
            both = "red fox, 水彩 watercolor"
            await expect(alice.locator("#prompt")).to_have_value(both, timeout=TIMEOUT)

            # Alice's undo removes her words only; Bob's stay, on both pages.
            await alice.locator("#prompt").focus()
            await alice.keyboard.press("Control+z")
            for page in (alice, bob):
                await expect(page.locator("#prompt")).to_have_value(
                    ", 水彩 watercolor", timeout=TIMEOUT
                )
            await alice.keyboard.press("Control+Shift+z")
            for page in (alice, bob):
                await expect(page.locator("#prompt")).to_have_value(both, timeout=TIMEOUT)

            await alice.wait_for_timeout(700)  # a new undo step, not part of the typing
            steps = alice.locator("[data-param=steps]")
            await steps.fill("40")
            await steps.blur()
            await expect(bob.locator("[data-param=steps]")).to_have_value("40", timeout=TIMEOUT)
            seed = bob.locator("[data-param=seed]")
            await seed.fill("7")
            await seed.blur()
            await expect(alice.locator("[data-param=seed]")).to_have_value("7", timeout=TIMEOUT)

            # The button undoes Alice's last edit (steps), not Bob's later seed.
            await alice.locator("#undo").click()
            await expect(bob.locator("[data-param=steps]")).to_have_value("30", timeout=TIMEOUT)
            await expect(bob.locator("[data-param=seed]")).to_have_value("7")
            await expect(bob.locator("#prompt")).to_have_value(both)
            # Bob's undo takes back his seed, and leaves Alice's prompt words alone.
            await bob.locator("#prompt").focus()
            await bob.keyboard.press("Control+z")
            await expect(alice.locator("[data-param=seed]")).to_have_value("", timeout=TIMEOUT)
            await expect(alice.locator("#prompt")).to_have_value(both)
            await expect(alice.locator("#redo")).to_be_enabled()
        finally:
            await browser.close()

    async with httpx.AsyncClient(base_url=origin) as http:
        doc = await http.get(
            f"/api/v1/rooms/{shared.slug}/document", headers=as_user(shared.alice_cookie)
        )
        assert doc.json()["prompt"] == both
        assert doc.json()["params"]["steps"] == 30
        assert "seed" not in doc.json()["params"]
    assert problems == []


async def test_use_a_template_in_a_room_and_complete_a_prompt(live_server: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import Page, async_playwright, expect

    origin = live_server.http_url
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        cookie, csrf = await sign_up(http, "carol", "Carol")
        created = await http.post(
            "/api/v1/prompts",
            json={
                "title": "Ink <b>wash</b>",
                "body": "{subject}, ink wash painting, soft light",
                "visibility": "public",
                "params": {"steps": 12},
            },
            headers=as_user(cookie, csrf),
        )
        assert created.status_code == 201, created.text
        prompt_id = created.json()["id"]
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context: Any = await browser.new_context()
            await context.add_cookies([{"name": "hub_session", "value": cookie, "url": origin}])
            page: Page = await context.new_page()
            record_problems(page, problems)
            await page.goto(f"{origin}/prompts/{prompt_id}")
            await expect(page.locator("h1")).to_contain_text("Ink <b>wash</b>")
            await page.locator("input[data-name=subject]").fill("一只白鹭")
            await page.locator("#use-form button[type=submit]").click()
            await page.wait_for_url(f"{origin}/r/**", timeout=TIMEOUT)
            await expect(page.locator("#status")).to_have_text("live", timeout=TIMEOUT)
            await expect(page.locator("#prompt")).to_have_value(
                "一只白鹭, ink wash painting, soft light", timeout=TIMEOUT
            )
            await expect(page.locator("[data-param=steps]")).to_have_value("12")

            await page.locator("#prompt").click()
            await page.keyboard.press("End")
            await page.keyboard.type(", so")
            completion = page.locator("#suggestions .completion button", has_text="soft light")
            await completion.first.click(timeout=TIMEOUT)
            await expect(page.locator("#prompt")).to_have_value(
                "一只白鹭, ink wash painting, soft light, soft light", timeout=TIMEOUT
            )
            await page.keyboard.press("Control+z")
            await expect(page.locator("#prompt")).to_have_value(
                "一只白鹭, ink wash painting, soft light, so", timeout=TIMEOUT
            )
        finally:
            await browser.close()
    async with httpx.AsyncClient(base_url=origin) as http:
        shown = await http.get(f"/api/v1/prompts/{prompt_id}")
        assert shown.json()["usage_count"] == 1
    assert problems == []
