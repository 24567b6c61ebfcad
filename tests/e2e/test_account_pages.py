"""The account pages' scripts in a real browser (Debian chromium via Playwright): on /images two
ticked images download as one zip and go to the works form together; on /jobs "Run again"
queues a copy, which the page shows finishing without a manual reload; on /settings the
profile saves, a new token's secret shows once and is revoked, and "Sign out everywhere else"
ends another browser's session."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import (
    ARGS,
    CHROMIUM,
    PASSWORD,
    as_user,
    record_problems,
    require_chromium,
    sign_up,
)
from tests.helpers import eventually
from tests.hub.credits.helpers import EMBEDDED_WORKER
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    return EMBEDDED_WORKER


async def _two_images(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    body = {"model": "offline-sketch", "prompt": "a kite", "width": 64, "height": 64}
    created = await http.post(
        "/api/v1/jobs", json={**body, "steps": 30, "count": 2}, headers=headers
    )
    assert created.status_code == 201, created.text
    job_id: str = created.json()["jobs"][0]["job_id"]

    async def done() -> bool:
        job = (await http.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
        return bool(job["state"] == "succeeded")

    await eventually(done, timeout=30, message="the job succeeds")
    return job_id


async def test_images_jobs_and_settings_pages(live: LiveServer, tmp_path: Path) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live.http_url
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        cookie, csrf = await sign_up(http, "alice", "Alice")
        http.cookies.clear()
        job_id = await _two_images(http, as_user(cookie, csrf))
        # A second browser of Alice's, for "sign out everywhere else".
        other = await http.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
        assert other.status_code == 200, other.text
        other_cookie = other.cookies["hub_session"]
        http.cookies.clear()
    problems: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(accept_downloads=True)
            await context.add_cookies([{"name": "hub_session", "value": cookie, "url": origin}])
            page = await context.new_page()
            record_problems(page, problems)

            await page.goto(f"{origin}/images")
            boxes = page.locator('#library input[name="image"]')
            await expect(boxes).to_have_count(2)
            await page.locator("#download-selected").click()
            await expect(page.locator("#selection-error")).to_have_text("Tick some images first.")
            await page.locator("#select-all").click()
            async with page.expect_download() as waiting:
                await page.locator("#download-selected").click()
            download = await waiting.value
            assert download.suggested_filename.endswith(".zip")
            saved = tmp_path / "images.zip"
            await download.save_as(saved)
            assert len(zipfile.ZipFile(io.BytesIO(saved.read_bytes())).namelist()) == 2
            await page.locator("#publish-selected").click()
            await page.wait_for_url(f"{origin}/works/new?image=*")
            await expect(page.locator('input[name="image"]:checked')).to_have_count(2)

            await page.goto(f"{origin}/jobs")
            await expect(page.locator("#jobs-list .job")).to_have_count(1)
            await page.locator(f'[data-job-id="{job_id}"] button.rerun').click()
            await expect(page.locator("#rerun-notice")).to_be_visible()
            await expect(page.locator("#jobs-list .job")).to_have_count(2)
            copy = page.locator("#jobs-list .job.highlight")
            await expect(copy).to_have_count(1)
            # The page follows the job events: the copy finishes and shows its images, unasked.
            await expect(copy).to_have_attribute("data-state", "succeeded", timeout=30_000)
            await expect(copy.locator(".thumbs img")).to_have_count(2)

            await page.goto(f"{origin}/settings")
            await page.locator('#profile-form [name="display_name"]').fill("Alice Liddell")
            async with page.expect_navigation():  # the form reloads the page once saved
                await page.locator("#profile-form button[type=submit]").click()
            await expect(page.locator('#profile-form [name="display_name"]')).to_have_value(
                "Alice Liddell"
            )
            await page.locator('#token-form [name="name"]').fill("backup script")
            await page.locator("#token-form button[type=submit]").click()
            await expect(page.locator("#token-secret-value")).to_contain_text("hub_pat_")
            await page.reload()
            await expect(page.locator("#token-secret")).to_be_hidden()
            token = page.locator("#tokens .token", has_text="backup script")
            await expect(token).to_have_count(1)
            await token.locator("button.revoke").click()
            await expect(token).to_have_count(0)
            await expect(page.locator("#tokens-empty")).to_be_visible()

            await expect(page.locator("#sessions .session")).to_have_count(2)
            await page.locator("#sessions-form button[type=submit]").click()
            await expect(page.locator("#sessions .session")).to_have_count(1)
            await expect(page.locator('#sessions .session[data-current="true"]')).to_have_count(1)
        finally:
            await browser.close()
    async with httpx.AsyncClient(base_url=origin) as http:
        ended = await http.get("/api/v1/me", headers={"cookie": f"hub_session={other_cookie}"})
        assert ended.status_code == 401
    assert problems == []
