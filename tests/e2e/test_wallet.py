"""Buy a credit pack with the offline provider in a real browser (Debian chromium via
Playwright): the wallet's Buy button, the confirm page's Pay button, then the receipt and the
wallet with the new balance and the payment in its history. No script is needed on these pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.helpers import ARGS, CHROMIUM, record_problems, require_chromium, sign_up
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    return {}


async def test_buy_a_pack_then_see_the_balance_and_the_receipt(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live.http_url
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        cookie, _ = await sign_up(http, "ada", "Ada")
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context()
            await context.add_cookies([{"name": "hub_session", "value": cookie, "url": origin}])
            page = await context.new_page()
            record_problems(page, problems)
            await page.goto(f"{origin}/wallet")
            await expect(page.locator("#wallet-balance")).to_have_text("100")
            await page.locator('button[data-item="pack-1200"]').click()
            await page.wait_for_url(f"{origin}/payments/offline/*")
            await page.locator("#confirm-payment").click()
            await page.wait_for_url(f"{origin}/wallet/receipts/*")
            await expect(page.locator("#receipt-state")).to_have_text("paid")
            await expect(page.locator("#receipt-credits")).to_have_text("1200")
            payment_id = await page.locator("#receipt-id").inner_text()
            await page.goto(f"{origin}/wallet")
            await expect(page.locator("#wallet-balance")).to_have_text("1300")
            row = page.locator(f'tr[data-payment="{payment_id}"]')
            await expect(row).to_contain_text("paid")
            await row.get_by_role("link").click()
            await page.wait_for_url(f"{origin}/wallet/receipts/{payment_id}")
        finally:
            await browser.close()
    assert problems == []
