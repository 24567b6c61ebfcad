"""Report → review → hide in a real browser (Debian chromium via Playwright): a reader reports a
work with the artwork page's Report button, a moderator hides it from the queue page with a
reason; the work's page is then a 404 for a visitor and shows the reason to its author."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from hub.accounts.models import User
from hub.context import HubContext
from tests.e2e.helpers import ARGS, CHROMIUM, as_user, record_problems, require_chromium, sign_up
from tests.hub.works.work_helpers import UserId, generated
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


async def _scene(live: LiveServer) -> tuple[str, dict[str, str]]:
    """Ada's published work (its URL) and the cookies of ada, bob and a moderator."""
    ctx: HubContext = live.app.state.ctx
    origin = live.http_url
    cookies: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        for name in ("ada", "bob", "moddy"):
            cookie, csrf = await sign_up(http, name, name.title())
            http.cookies.clear()
            cookies[name], cookies[f"{name}-csrf"] = cookie, csrf
        me = await http.get("/api/v1/me", headers=as_user(cookies["ada"]))
        image_id = await generated(ctx, UserId(int(me.json()["user_id"])))
        made = await http.post(
            "/api/v1/works",
            json={"title": "Harbour", "image_ids": [image_id], "status": "published"},
            headers=as_user(cookies["ada"], cookies["ada-csrf"]),
        )
        assert made.status_code == 201, made.text
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(User).where(User.username == "moddy").values(role="moderator")  # type: ignore[arg-type]
        )
    return str(made.json()["url"]), cookies


async def test_report_review_hide_as_moderator(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live.http_url
    work_path, cookies = await _scene(live)
    problems: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:

            async def page_of(who: str | None) -> object:
                context = await browser.new_context()
                if who is not None:
                    await context.add_cookies(
                        [{"name": "hub_session", "value": cookies[who], "url": origin}]
                    )
                return await context.new_page()

            bob = await page_of("bob")
            record_problems(bob, problems, "bob")
            await bob.goto(origin + work_path)  # type: ignore[attr-defined]
            await bob.get_by_text("Report", exact=True).click()  # type: ignore[attr-defined]
            await bob.get_by_label("What is wrong with it?").fill("Stolen from my portfolio")  # type: ignore[attr-defined]
            await bob.get_by_role("button", name="Send report").click()  # type: ignore[attr-defined]
            await expect(bob.locator("#report-sent")).to_be_visible()  # type: ignore[attr-defined]

            mod = await page_of("moddy")
            record_problems(mod, problems, "moderator")
            await mod.goto(f"{origin}/admin/reports")  # type: ignore[attr-defined]
            item = mod.locator(".report-item").first  # type: ignore[attr-defined]
            await expect(item).to_contain_text("Stolen from my portfolio")
            await item.get_by_label("Reason (shown to the author)").fill("Not the author's art")
            await item.get_by_role("button", name="Hide").click()
            await expect(mod.locator("#queue-empty")).to_be_visible()  # type: ignore[attr-defined]

            visitor = await page_of(None)
            answer = await visitor.goto(origin + work_path)  # type: ignore[attr-defined]
            assert answer is not None
            assert answer.status == 404

            ada = await page_of("ada")
            record_problems(ada, problems, "ada")
            await ada.goto(origin + work_path)  # type: ignore[attr-defined]
            await expect(ada.locator("#hidden-reason")).to_have_text("Not the author's art")  # type: ignore[attr-defined]
        finally:
            await browser.close()
    assert problems == []
