"""Acceptance (d) of issue #11: an anonymous visitor whose browser asks for Chinese
(``Accept-Language: zh-CN``) opens an artwork page and reads it in Simplified Chinese: the
shell, the page's headings, the counts and the date (re-rendered by static/js/time.js in the
visitor's language); the language switch in the side menu turns it to English for them."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import ARGS, CHROMIUM, record_problems, require_chromium
from tests.e2e.sample import make_sample
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


async def test_a_chinese_visitor_reads_the_artwork_page_in_chinese(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live.http_url
    sample = await make_sample(origin, live.app.state.ctx, title="港口灯火 Harbour lights")
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(
                locale="zh-CN", extra_http_headers={"accept-language": "zh-CN,zh;q=0.9"}
            )
            page = await context.new_page()
            record_problems(page, problems)
            await page.goto(origin + sample.artwork_url)
            await expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
            await expect(page.locator("h1")).to_have_text("港口灯火 Harbour lights")
            await expect(page.locator("#timeline-title")).to_have_text("提示词的形成过程")
            await expect(page.locator("#contributors-title")).to_have_text("创作者")
            by = "作者\uff1a"  # "by", with the catalogue's full-width colon
            await expect(page.locator(".artwork-meta")).to_contain_text(by)
            await expect(page.locator(".reactions")).to_contain_text("1 赞")
            await expect(page.locator(".skip-link")).to_have_text("跳到正文")
            await expect(page.locator(".topbar")).to_contain_text("登录")
            await expect(page.locator("#side-menu")).to_contain_text("动态")
            published = page.locator(".artwork-meta time")
            await expect(published).to_have_attribute("data-localized", "1")
            await expect(published).to_contain_text("年")  # Intl's Chinese date
            assert "Sign in" not in await page.locator("body").inner_text()

            await page.locator("#shell-lang").select_option("en")
            await expect(page.locator("html")).to_have_attribute("lang", "en")
            await expect(page.locator("#timeline-title")).to_have_text("How the prompt came to be")
            assert page.url == origin + sample.artwork_url
        finally:
            await browser.close()
    assert problems == []
