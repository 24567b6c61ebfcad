"""Accessibility of every page type, in a real browser (Debian chromium via Playwright) with
axe-core (vendored for the tests only: tests/e2e/vendor). No page may have a serious or critical
violation, in the light or the dark theme; while the pages load, no request leaves the hub; and
at phone width the shell's menu button opens the side menu with no horizontal scrolling.

One browser and one sample hub for the whole module (tests/e2e/sample.py); ~20-30 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.helpers import ARGS, CHROMIUM, record_problems, require_chromium
from tests.e2e.sample import Sample, make_sample
from tests.live import LiveServer

pytestmark = pytest.mark.e2e

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text("utf-8")
BLOCKING = {"serious", "critical"}
MISSING = "/no-such-page"


def page_types(sample: Sample) -> list[tuple[str, str, bool]]:
    """(name, path, signed in as Alice)."""
    return [
        ("home", "/", False),
        ("login", "/login", False),
        ("register", "/register", False),
        ("feed", "/feed", False),
        ("artwork", sample.artwork_url, False),
        ("thread", sample.thread_url, False),
        ("forum", "/forum", False),
        ("profile", "/u/alice", False),
        ("search", "/search?q=harbour", False),
        ("prompts", "/prompts", True),
        ("prompt", sample.prompt_url, True),
        ("notifications", "/notifications", True),
        ("home signed in", "/", True),
        ("room", sample.room_url, True),
        ("error page", MISSING, False),
    ]


async def violations(page: Any) -> list[str]:
    await page.add_script_tag(content=AXE)
    result = await page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:4]}"
        for v in result
        if v["impact"] in BLOCKING
    ]


async def test_every_page_type_is_accessible_and_stays_on_the_hub(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live.http_url
    sample = await make_sample(origin, live.app.state.ctx)
    host = urlsplit(origin).netloc
    foreign: list[str] = []
    problems: list[str] = []
    found: dict[str, list[str]] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for scheme in ("light", "dark"):
                visitor = await browser.new_context(color_scheme=scheme)
                alice = await browser.new_context(color_scheme=scheme)
                await alice.add_cookies(
                    [{"name": "hub_session", "value": sample.alice_cookie, "url": origin}]
                )
                for context in (visitor, alice):
                    context.on(
                        "request",
                        lambda r: (
                            foreign.append(r.url)
                            if urlsplit(r.url).netloc not in (host, "")
                            else None
                        ),
                    )
                pages = {False: await visitor.new_page(), True: await alice.new_page()}
                for page in pages.values():
                    record_problems(page, problems, scheme)
                for name, path, signed_in in page_types(sample):
                    page = pages[signed_in]
                    await page.goto(origin + path, wait_until="load")
                    await expect(page.locator("main#main")).to_be_visible()
                    if found_here := await violations(page):
                        found[f"{scheme} {name} {path}"] = found_here
                await visitor.close()
                await alice.close()

            phone = await browser.new_context(viewport={"width": 360, "height": 740})
            page = await phone.new_page()
            for path in ("/", sample.artwork_url, "/feed", sample.thread_url):
                await page.goto(origin + path)
                width = await page.evaluate(
                    "() => [document.documentElement.scrollWidth, window.innerWidth]"
                )
                assert width[0] <= width[1], (path, width)
            menu = page.locator("#side-menu")
            await expect(menu).to_be_hidden()
            await page.locator(".menu-toggle").click()
            await expect(menu).to_be_visible()
            await expect(page.locator(".menu-toggle")).to_have_attribute("aria-expanded", "true")
            await page.keyboard.press("Escape")
            await expect(menu).to_be_hidden()
            await phone.close()
        finally:
            await browser.close()
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())
    assert foreign == []
    assert [p for p in problems if not p.endswith(origin + MISSING)] == []
