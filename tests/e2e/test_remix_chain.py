"""The remix chain in a real browser (Debian chromium via Playwright): Alice uses a template of
the prompt library in a new room, generates and publishes; Bob, from his own account, remixes
her work with its image as the source, lands in his new room seeded with her prompt (where the
suggestions offer her work), generates and publishes there; each artwork page then shows the
other in its lineage."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.helpers import ARGS, CHROMIUM, as_user, record_problems, require_chromium, sign_up
from tests.hub.credits.helpers import EMBEDDED_WORKER
from tests.live import LiveServer

pytestmark = pytest.mark.e2e

TEMPLATE = {
    "title": "Harbour <b>study</b>",
    "body": "a harbour at {time=dusk}, oil painting",
    "negative_prompt": "blurry",
    "params": {"model": "offline-sketch", "size": "96x64", "steps": 3},
    "visibility": "public",
}


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    # The suggestion index re-reads the popular works within a second (30 s by default).
    return {
        **EMBEDDED_WORKER,
        "prompt_index_refresh_seconds": 0.2,
        "prompt_index_rebuild_seconds": 0.2,
    }


async def _people_and_template(origin: str) -> tuple[str, str, int]:
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        alice_cookie, alice_csrf = await sign_up(http, "alice", "Alice")
        http.cookies.clear()
        bob_cookie, _ = await sign_up(http, "bob", "Bob 鲍勃")
        http.cookies.clear()
        made = await http.post(
            "/api/v1/prompts", json=TEMPLATE, headers=as_user(alice_cookie, alice_csrf)
        )
        assert made.status_code == 201, made.text
    return alice_cookie, bob_cookie, int(made.json()["id"])


async def test_use_generate_publish_remix_and_see_the_lineage(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import Page, async_playwright, expect

    origin = live.http_url
    alice_cookie, bob_cookie, prompt_id = await _people_and_template(origin)
    problems: list[str] = []

    async def signed_in(browser: Any, cookie: str, who: str) -> Page:
        context = await browser.new_context()
        await context.add_cookies([{"name": "hub_session", "value": cookie, "url": origin}])
        page: Page = await context.new_page()
        record_problems(page, problems, who)
        return page

    async def generate_and_publish(page: Page, title: str) -> str:
        await expect(page.locator("#status")).to_have_text("live", timeout=10_000)
        await page.locator("#generate").click()
        job = page.locator("#jobs .job").first
        await expect(job).to_have_attribute("data-state", "succeeded", timeout=30_000)
        await job.locator(".job-publish").click()
        await page.wait_for_url(f"{origin}/works/new?room=*")
        await page.locator("#work-title").fill(title)
        await page.locator("#work-status").select_option("published")
        await page.locator("#work-submit").click()
        await expect(page.locator("h1")).to_have_text(title, timeout=10_000)
        assert "/artwork/" in page.url
        return page.url

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            alice = await signed_in(browser, alice_cookie, "alice")
            await alice.goto(f"{origin}/prompts/{prompt_id}")
            await alice.locator('#use-form input[data-name="time"]').fill("night")
            await alice.locator('#use-form button[type="submit"]').click()
            await alice.wait_for_url(f"{origin}/r/*")
            await expect(alice.locator("#prompt")).to_have_value(
                "a harbour at night, oil painting", timeout=10_000
            )
            original = await generate_and_publish(alice, "Harbour <night>")

            bob = await signed_in(browser, bob_cookie, "bob")
            await bob.goto(original)
            await expect(bob.locator("#lineage-ancestors")).to_contain_text("An original")
            await bob.locator("#remix-use-image").check()
            await bob.locator("#remix-button").click()
            await bob.wait_for_url(f"{origin}/r/*")
            await expect(bob.locator("#prompt")).to_have_value(
                "a harbour at night, oil painting", timeout=10_000
            )
            slug = bob.url.rsplit("/", 1)[-1]
            async with httpx.AsyncClient(base_url=origin) as http:
                doc = await http.get(f"/api/v1/rooms/{slug}/document", headers=as_user(bob_cookie))
            source = doc.json()["params"]["source_image"]
            assert source["ref"].startswith("uploads/")
            assert (source["width"], source["height"]) == (96, 64)
            await bob.locator("#prompt").click()
            await bob.keyboard.press("End")
            # Suggestions while typing draw on published works too: Alice's prompt matches.
            await bob.keyboard.type(" ")
            work_hint = bob.locator("#suggestions .work a", has_text="Harbour <night>")
            await expect(work_hint).to_have_attribute(
                "href", f"/artwork/{original.split('/')[-2]}", timeout=10_000
            )
            await bob.keyboard.press("Backspace")
            await bob.keyboard.type(", at dawn")
            remix = await generate_and_publish(bob, "Harbour <dawn>")

            # The remix's page names its parent; the original's page lists the remix.
            ancestors = bob.locator("#lineage-ancestors .lineage-title")
            await expect(ancestors).to_have_text(["Harbour <night>"])
            await expect(ancestors.first).to_have_attribute("href", original.removeprefix(origin))
            await alice.goto(original)
            remixes = alice.locator("#lineage-remixes .lineage-title")
            await expect(remixes).to_have_text(["Harbour <dawn>"])
            await expect(remixes.first).to_have_attribute("href", remix.removeprefix(origin))
            await expect(alice.locator("#remix-count")).to_have_text("1")
        finally:
            await browser.close()
    assert problems == []
