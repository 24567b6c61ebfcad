"""Generate from the room page in a real browser (Debian chromium via Playwright): the owner sets
the parameters and presses Generate; in both people's pages the job's progress bar reaches 100%
and the image appears, and the owner's credit balance goes down."""

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
from tests.hub.credits.helpers import EMBEDDED_WORKER
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    # Slower steps than elsewhere, so that the pages show the progress bar moving.
    return {**EMBEDDED_WORKER, "offline_step_delay": 0.05}


async def test_generate_in_a_room_page_shows_progress_and_the_image(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import Page, async_playwright, expect

    origin = live.http_url
    shared = await room_with_editor(origin, "灯塔")
    slug, alice_cookie, bob_cookie = shared.slug, shared.alice_cookie, shared.bob_cookie
    problems: list[str] = []

    async def open_page(browser: Any, cookie: str) -> Page:
        page: Page = await open_room_page(browser, origin, slug, cookie, problems)
        return page

    async def set_param(page: Page, name: str, value: str) -> None:
        field = page.locator(f'[data-param="{name}"]')
        await field.fill(value)
        await field.dispatch_event("change")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            alice = await open_page(browser, alice_cookie)
            bob = await open_page(browser, bob_cookie)
            await expect(alice.locator("#credits-balance")).to_have_text("100", timeout=10_000)

            await alice.locator("#model").select_option("offline-sketch")
            await set_param(alice, "size", "128x96")
            await set_param(alice, "steps", "6")
            await alice.locator("#prompt").click()
            await alice.keyboard.type("一座灯塔 at dusk")
            await expect(bob.locator("#prompt")).to_have_value("一座灯塔 at dusk", timeout=10_000)
            await expect(bob.locator('[data-param="steps"]')).to_have_value("6", timeout=10_000)
            await expect(bob.locator('[data-param="size"]')).to_have_value("128x96")

            await expect(alice.locator("#generate")).to_be_visible()
            await alice.locator("#generate").click()

            for page in (alice, bob):
                job = page.locator("#jobs .job").first
                await expect(job).to_be_visible(timeout=10_000)
                await expect(job.locator(".job-owner")).to_have_text("Alice", timeout=10_000)
                await expect(job.locator(".progress")).to_have_attribute(
                    "aria-valuenow", "100", timeout=20_000
                )
                await expect(job).to_have_attribute("data-state", "succeeded", timeout=10_000)
                image = job.locator(".job-images img")
                await expect(image).to_have_count(1, timeout=10_000)
                await expect(image).to_have_js_property("complete", True, timeout=10_000)
                assert await image.evaluate("img => img.naturalWidth") > 0
                href = await job.locator(".job-images a").get_attribute("href")
                assert href is not None
                assert href.endswith(".png")
                await expect(job.locator(".job-cancel")).to_be_hidden()
            # Who pressed pays: one credit for one offline-sketch image.
            await expect(alice.locator("#credits-balance")).to_have_text("99", timeout=10_000)
            await expect(bob.locator("#credits-balance")).to_have_text("100")
            await expect(alice.locator("#events")).to_contain_text("Alice's generation is ready")
        finally:
            await browser.close()

    async with httpx.AsyncClient(base_url=origin) as http:
        mine = (await http.get("/api/v1/jobs", headers=as_user(alice_cookie))).json()["items"]
        (job,) = mine
        assert job["state"] == "succeeded"
        assert job["params"]["width"] == 128
        assert job["params"]["steps"] == 6
        assert job["room_id"] == slug
    assert problems == []
