"""The social loop in a real browser (Debian chromium via Playwright): Alice's work is published
and shows on ``/feed``; Bob finds it there, likes it on its artwork page and comments in its
discussion; Alice, who keeps a page open all along, sees her bell count 2 unread without
reloading (the per-user notification socket, docs/notifications.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.helpers import ARGS, CHROMIUM, as_user, record_problems, require_chromium, sign_up
from tests.helpers import eventually
from tests.hub.credits.helpers import EMBEDDED_WORKER
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    return EMBEDDED_WORKER


async def _published_work(http: httpx.AsyncClient, cookie: str, csrf: str, title: str) -> str:
    """Generates one small image through the API, waits for it, publishes it; the work's URL."""
    headers = as_user(cookie, csrf)
    body = {"model": "offline-sketch", "prompt": "a lantern", "width": 64, "height": 64}
    created = await http.post("/api/v1/jobs", json={**body, "steps": 2}, headers=headers)
    assert created.status_code == 201, created.text
    job_id = created.json()["jobs"][0]["job_id"]
    job: dict[str, Any] = {}

    async def finished() -> bool:
        nonlocal job
        job = (await http.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
        return job["state"] in ("succeeded", "failed", "canceled")

    await eventually(finished, timeout=30, message="the job finishes")
    assert job["state"] == "succeeded", job
    work = await http.post(
        "/api/v1/works",
        json={
            "image_ids": [job["images"][0]["image_id"]],
            "title": title,
            "status": "published",
        },
        headers=headers,
    )
    assert work.status_code == 201, work.text
    url: str = work.json()["url"]
    # "Your image is ready" is read: the bell starts from zero.
    read = await http.post("/api/v1/notifications/read-all", headers=headers)
    assert read.status_code == 200, read.text
    return url


async def test_like_and_comment_light_the_authors_bell(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live.http_url
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        alice_cookie, alice_csrf = await sign_up(http, "alice", "Alice")
        http.cookies.clear()
        bob_cookie, _ = await sign_up(http, "bob", "Bob 鲍勃")
        http.cookies.clear()
        work_url = await _published_work(http, alice_cookie, alice_csrf, "Lantern festival")
    problems: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            pages = []
            for who, cookie in (("alice", alice_cookie), ("bob", bob_cookie)):
                context = await browser.new_context()
                await context.add_cookies([{"name": "hub_session", "value": cookie, "url": origin}])
                page = await context.new_page()
                record_problems(page, problems, who)
                pages.append(page)
            alice, bob = pages

            # Alice waits on the feed, her bell connected and at zero.
            await alice.goto(f"{origin}/feed")
            await expect(alice.locator("#bell")).to_have_attribute(
                "aria-label", "Notifications, 0 unread", timeout=10_000
            )
            await expect(alice.locator("#bell-count")).to_be_hidden()

            # Bob finds the work on the feed, which may answer from a cache up to
            # HUB_FEED_CACHE_SECONDS (5 s) old: reload for up to twice that.
            await bob.goto(f"{origin}/feed")
            card = bob.locator(".work-title", has_text="Lantern festival")
            for _ in range(40):
                if await card.count():
                    break
                await bob.wait_for_timeout(250)
                await bob.reload()
            await expect(card).to_be_visible()
            await card.click()
            await expect(bob).to_have_url(f"{origin}{work_url}")

            await bob.locator("#like").click()
            await expect(bob.locator("#like")).to_have_attribute("aria-pressed", "true")
            await expect(bob.locator("#like-count")).to_have_text("1")
            await expect(alice.locator("#bell-count")).to_have_text("1", timeout=10_000)

            await bob.locator("#discussion-link").click()
            await bob.locator("form.post-form.card textarea[name=body]").fill("Lovely glow!")
            await bob.locator("form.post-form.card button[type=submit]").click()
            await expect(bob.locator("#comments")).to_contain_text("Lovely glow!")

            # Both arrived live: Alice's page was never reloaded.
            await expect(alice.locator("#bell-count")).to_have_text("2", timeout=10_000)
            await expect(alice.locator("#bell-count")).to_be_visible()
            await expect(alice.locator("#bell")).to_have_attribute(
                "aria-label", "Notifications, 2 unread"
            )
            assert alice.url == f"{origin}/feed"
        finally:
            await browser.close()
    assert problems == []
