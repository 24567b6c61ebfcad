"""Publish a work from a room in a real browser (Debian chromium via Playwright): two people
write the prompt together, the owner generates, presses Publish under the image and fills in the
form; then a visitor who is not signed in finds the work on /feed and reads its artwork page,
with the prompt's timeline crediting both."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.helpers import (
    ARGS,
    CHROMIUM,
    open_room_page,
    record_problems,
    require_chromium,
    room_with_editor,
)
from tests.hub.credits.helpers import EMBEDDED_WORKER
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    return EMBEDDED_WORKER


async def test_publish_from_a_room_then_find_it_as_a_visitor(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import Page, async_playwright, expect

    origin = live.http_url
    shared = await room_with_editor(origin, "Harbour nights")
    problems: list[str] = []

    async def set_param(page: Page, name: str, value: str) -> None:
        field = page.locator(f'[data-param="{name}"]')
        await field.fill(value)
        await field.dispatch_event("change")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            alice = await open_room_page(
                browser, origin, shared.slug, shared.alice_cookie, problems
            )
            bob = await open_room_page(browser, origin, shared.slug, shared.bob_cookie, problems)
            await alice.locator("#model").select_option("offline-sketch")
            await set_param(alice, "size", "96x64")
            await set_param(alice, "steps", "3")
            await alice.locator("#prompt").click()
            await alice.keyboard.type("a harbour")
            await expect(bob.locator("#prompt")).to_have_value("a harbour", timeout=10_000)
            await bob.locator("#prompt").click()
            await bob.keyboard.press("End")
            await bob.keyboard.type(" at night")
            await expect(alice.locator("#prompt")).to_have_value(
                "a harbour at night", timeout=10_000
            )

            await expect(alice.locator("#generate")).to_be_visible()
            await alice.locator("#generate").click()
            job = alice.locator("#jobs .job").first
            await expect(job).to_have_attribute("data-state", "succeeded", timeout=30_000)
            await job.locator(".job-publish").click()

            await alice.wait_for_url(f"{origin}/works/new?room={shared.slug}&image=*")
            await expect(alice.locator('input[name="image"]:checked')).to_have_count(1)
            await alice.locator("#work-title").fill("Harbour at night")
            await alice.locator("#work-status").select_option("published")
            await alice.locator("#work-submit").click()
            await expect(alice.locator("h1")).to_have_text("Harbour at night", timeout=10_000)
            work_url = alice.url
            assert "/artwork/" in work_url
            assert work_url.endswith("/harbour-at-night")

            visitor_context = await browser.new_context()
            visitor = await visitor_context.new_page()
            record_problems(visitor, problems, "visitor")
            await visitor.goto(f"{origin}/feed")
            card = visitor.locator(".work-title", has_text="Harbour at night")
            for _ in range(20):  # the feed page may be answered from a cache a moment old
                if await card.count():
                    break
                await visitor.wait_for_timeout(250)
                await visitor.reload()
            await expect(card).to_be_visible()
            await card.click()
            await expect(visitor).to_have_url(work_url)
            await expect(visitor.locator("h1")).to_have_text("Harbour at night")
            await expect(visitor.locator(".artwork-images img")).to_have_count(1)
            cover = visitor.locator(".artwork-images img")
            await expect(cover).to_have_js_property("complete", True, timeout=10_000)
            assert await cover.evaluate("img => img.naturalWidth") == 96
            steps = visitor.locator("#timeline .timeline-step")
            await expect(steps).to_have_count(2)
            await expect(steps.nth(0).locator(".step-authors")).to_have_text("Alice")
            await expect(steps.nth(0).locator("ins")).to_have_text("a harbour")
            await expect(steps.nth(1).locator(".step-authors")).to_have_text("Bob 鲍勃")
            await expect(steps.nth(1).locator("ins")).to_have_text(" at night")
            await expect(visitor.locator("#contributors")).to_contain_text("Alice")
            await expect(visitor.locator("#contributors")).to_contain_text("Bob 鲍勃")
            await expect(visitor.locator("#prompt")).to_have_text("a harbour at night")
            await expect(visitor.locator("#like")).to_have_count(0)
            await expect(visitor.locator("#discussion-link")).to_have_text("Harbour at night")
            data = json.loads(
                await visitor.locator('script[type="application/ld+json"]').text_content() or "{}"
            )
            assert data["@type"] == "VisualArtwork"
            assert data["image"]["@type"] == "ImageObject"
            assert data["url"] == work_url
        finally:
            await browser.close()
    assert problems == []
