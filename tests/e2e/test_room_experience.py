"""The room page as a group uses it, in a real browser (Debian chromium via Playwright):

(a) two people see each other's named cursors and selections, type at once and converge, change
    the size and see it on both screens, and undo only their own edit;
(b) one uploads an img2img source, generates with the offline engine, both watch the progress
    reach 100 % and the image appear in the room gallery; a third person who joins later sees it
    in the gallery, opens the viewer (keyboard navigation, zoom, download) ...
(e) ... on a 360 px wide phone screen, with no horizontal scroll; "use as source" from the
    viewer sets the room's source for everyone, another member generates from it, the viewer's
    arrows move between the two images, and "remix" opens a new room seeded with one;
    when the late joiner's connection drops, the page shows it, reconnects and replays the
    events it missed."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

import httpx
import pytest
from PIL import Image

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
from tests.hub.credits.helpers import EMBEDDED_WORKER
from tests.live import LiveServer

pytestmark = pytest.mark.e2e
TIMEOUT = 10_000
PHONE_WIDTH, PHONE_HEIGHT = 360, 740


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    # Steps slow enough for the pages to show the bar moving, fast enough for a short test.
    return {**EMBEDDED_WORKER, "offline_step_delay": 0.05}


async def _set_param(page: Any, name: str, value: str) -> None:
    field = page.locator(f'[data-param="{name}"]')
    await field.fill(value)
    await field.dispatch_event("change")


async def _no_horizontal_scroll(page: Any) -> None:
    overflow = await page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " [...document.querySelectorAll('body *')].filter(e => {"
        "   const r = e.getBoundingClientRect(); return r.width && r.right > window.innerWidth + 1;"
        " }).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)]"
    )
    scroll_width, inner_width, wide = overflow
    assert scroll_width <= inner_width, f"{scroll_width} > {inner_width}: {wide}"


async def test_two_people_see_cursors_converge_and_undo_their_own(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live.http_url
    shared = await room_with_editor(origin, "Cursors")
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
            # Bob sees Alice's caret, with her name, in the prompt.
            alice_caret = bob.locator("#prompt-host .remote-caret .remote-name")
            await expect(alice_caret).to_have_text("Alice", timeout=TIMEOUT)
            await expect(bob.locator("#prompt-people")).to_contain_text("Alice")

            await bob.locator("#prompt").click()
            await bob.keyboard.press("End")
            await expect(alice.locator("#prompt-host .remote-name")).to_have_text(
                "Bob 鲍勃", timeout=TIMEOUT
            )
            # A selection shows in the selecting person's colour on the other screen.
            await alice.keyboard.press("Shift+Home")
            await expect(bob.locator("#prompt-host .remote-selection")).to_have_text(
                "red fox", timeout=TIMEOUT
            )

            # Both type at the same time, at either end: both screens end with the same text.
            await alice.keyboard.press("Home")
            await asyncio.gather(
                alice.keyboard.type("big ", delay=15), bob.keyboard.type(" 在雪中", delay=15)
            )
            both = "big red fox 在雪中"
            for page in (alice, bob):
                await expect(page.locator("#prompt")).to_have_value(both, timeout=TIMEOUT)

            # The size is part of the shared document.
            size_before = await bob.locator('[data-param="size"]').input_value()
            assert size_before != "640x480"
            await _set_param(bob, "size", "640x480")
            await expect(alice.locator('[data-param="size"]')).to_have_value(
                "640x480", timeout=TIMEOUT
            )
            await _set_param(alice, "steps", "12")
            await expect(bob.locator('[data-param="steps"]')).to_have_value("12", timeout=TIMEOUT)

            # Bob's undo takes back his last edit (the size), not Alice's later steps.
            await bob.locator("#undo").click()
            for page in (alice, bob):
                await expect(page.locator('[data-param="size"]')).to_have_value(
                    size_before, timeout=TIMEOUT
                )
                await expect(page.locator('[data-param="steps"]')).to_have_value("12")
                await expect(page.locator("#prompt")).to_have_value(re.compile("^big red fox"))
            await bob.locator("#redo").click()
            await expect(alice.locator('[data-param="size"]')).to_have_value(
                "640x480", timeout=TIMEOUT
            )
        finally:
            await browser.close()
    assert problems == []


async def test_img2img_progress_gallery_and_a_late_joiner_on_a_phone(live: LiveServer) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live.http_url
    shared = await room_with_editor(origin, "Lighthouse 灯塔")
    slug = shared.slug
    problems: list[str] = []
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (250, 200, 20)).save(buffer, "PNG")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            alice = await open_room_page(browser, origin, slug, shared.alice_cookie, problems)
            bob = await open_room_page(browser, origin, slug, shared.bob_cookie, problems)
            for page in (alice, bob):
                await expect(page.locator("#gallery-empty")).to_be_visible(timeout=TIMEOUT)

            # The model select lists the models with their cost.
            model = alice.locator("#model")
            await expect(model.locator('option[value="offline-sketch"]')).to_contain_text(
                "credit", timeout=TIMEOUT
            )
            await model.select_option("offline-sketch")
            await expect(bob.locator("#model")).to_have_value("offline-sketch", timeout=TIMEOUT)
            await expect(bob.locator("#model-cost")).to_contain_text("1 credit per image")

            # Alice uploads the source; both see it in the room.
            await alice.locator("#source-file").set_input_files(
                files=[{"name": "day.png", "mimeType": "image/png", "buffer": buffer.getvalue()}]
            )
            for page in (alice, bob):
                await expect(page.locator("#source-image")).to_be_visible(timeout=TIMEOUT)
                await expect(page.locator("#source-size")).to_have_text("80\u00d760")
            await _set_param(alice, "size", "64x64")
            await _set_param(alice, "steps", "6")
            await alice.locator("#prompt").click()
            await alice.keyboard.type("the lighthouse at night")
            await expect(bob.locator("#prompt")).to_have_value(
                "the lighthouse at night", timeout=TIMEOUT
            )
            await alice.locator("#generate").click()

            for page in (alice, bob):
                job = page.locator("#jobs .job").first
                await expect(job).to_be_visible(timeout=TIMEOUT)
                await expect(job.locator(".progress")).to_have_attribute(
                    "aria-valuenow", "100", timeout=20_000
                )
                await expect(job).to_have_attribute("data-state", "succeeded", timeout=TIMEOUT)
                tile = page.locator("#gallery-grid .gallery-item img")
                await expect(tile).to_have_count(1, timeout=TIMEOUT)
                await expect(tile).to_have_attribute("alt", "the lighthouse at night")
            await expect(bob.locator("#jobs .job .job-cancel")).to_be_hidden()
            # The owner's page (invite form, jobs, gallery, source) fits a phone too.
            await alice.set_viewport_size({"width": PHONE_WIDTH, "height": PHONE_HEIGHT})
            await _no_horizontal_scroll(alice)

            # Carol joins afterwards, on a phone: the gallery has the earlier image.
            async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
                invite = await http.post(
                    f"/api/v1/rooms/{slug}/invites",
                    json={"role": "viewer"},
                    headers=as_user(shared.alice_cookie, await _csrf(http, shared.alice_cookie)),
                )
                carol_cookie, carol_csrf = await sign_up(http, "carol", "Carol")
                accepted = await http.post(
                    f"/api/v1/invites/{invite.json()['token']}/accept",
                    headers=as_user(carol_cookie, carol_csrf),
                )
                assert accepted.status_code == 200, accepted.text
                (made,) = (
                    await http.get("/api/v1/jobs", headers=as_user(shared.alice_cookie))
                ).json()["items"]
            assert made["kind"] == "img2img"
            assert made["source_image_key"].startswith("uploads/")

            context = await browser.new_context(
                viewport={"width": PHONE_WIDTH, "height": PHONE_HEIGHT}
            )
            await context.add_cookies(
                [{"name": "hub_session", "value": carol_cookie, "url": origin}]
            )
            carol = await context.new_page()
            record_problems(carol, problems, "carol")
            # Carol's event socket goes through a switch the test can open to drop it.
            gate = {"blocked": False}
            routed: list[Any] = []

            async def events_route(ws: Any) -> None:
                if gate["blocked"]:
                    await ws.close(code=4000, reason="offline")  # transient: the page retries
                    return
                ws.connect_to_server()
                routed.append(ws)

            await carol.route_web_socket(re.compile(r"/rooms/[^/]+/events"), events_route)
            await carol.goto(f"{origin}/r/{slug}")
            await expect(carol.locator("#status")).to_have_text("live", timeout=TIMEOUT)
            tile = carol.locator("#gallery-grid .gallery-open")
            await expect(tile).to_have_count(1, timeout=TIMEOUT)
            await _no_horizontal_scroll(carol)

            # The viewer: keyboard in, zoom, download, Escape out.
            await tile.focus()
            await carol.keyboard.press("Enter")
            viewer = carol.locator("#viewer")
            await expect(viewer).to_be_visible()
            await expect(carol.locator("#viewer-prompt")).to_have_text("the lighthouse at night")
            await expect(carol.locator("#viewer-image")).to_have_js_property(
                "complete", True, timeout=TIMEOUT
            )
            assert await carol.locator("#viewer-image").evaluate("i => i.naturalWidth") == 64
            await carol.keyboard.press("z")
            await expect(carol.locator("#viewer-zoom")).to_have_attribute("aria-pressed", "true")
            await carol.keyboard.press("ArrowRight")  # the only image: stays on it
            await expect(carol.locator("#viewer-count")).to_have_text("1 / 1")
            href = await carol.locator("#viewer-download").get_attribute("href")
            assert href is not None
            assert href.endswith("/download")
            await _no_horizontal_scroll(carol)
            await carol.keyboard.press("Escape")
            await expect(viewer).to_be_hidden()
            # A viewer may look, not edit: no "use as source" for Carol.
            await expect(carol.locator("#viewer-source")).to_have_count(0)

            # Carol's connection drops: the page says so, reconnects by itself and replays
            # what was said meanwhile.
            gate["blocked"] = True
            for ws in routed:
                await ws.close(code=4000, reason="offline")
            connection = carol.locator("#connection")
            await expect(connection).to_have_attribute("data-state", "reconnecting")
            await alice.locator("#chat-text").fill("said while Carol was away")
            await alice.locator("#chat-text").press("Enter")
            await expect(alice.locator("#events")).to_contain_text("said while Carol was away")
            gate["blocked"] = False
            await expect(carol.locator("#events")).to_contain_text(
                "said while Carol was away", timeout=TIMEOUT
            )
            await expect(connection).to_have_attribute("data-state", "live")
            await expect(carol.locator("#status")).to_have_text("live")

            # Bob uses the image as the room's source from the viewer: Alice sees it.
            await bob.locator("#gallery-grid .gallery-open").click()
            await bob.locator("#viewer-source").click()
            await expect(bob.locator("#viewer")).to_be_hidden()
            await expect(alice.locator("#source-size")).to_have_text("64\u00d764", timeout=TIMEOUT)
            source = await alice.evaluate("() => window.hubRoom.params.get('source_image')")
            assert source["ref"] == made["images"][0]["image_id"]

            # Bob generates from Alice's image (a room's images are its members' sources); the
            # late joiner's gallery grows, and the viewer's arrows move between the images.
            await bob.locator("#generate").click()
            await expect(bob.locator('#jobs .job[data-state="succeeded"]')).to_have_count(
                2, timeout=20_000
            )
            tiles = carol.locator("#gallery-grid .gallery-open")
            await expect(tiles).to_have_count(2, timeout=TIMEOUT)
            await tiles.first.click()
            await expect(carol.locator("#viewer-count")).to_have_text("1 / 2")
            await carol.keyboard.press("ArrowRight")
            await expect(carol.locator("#viewer-count")).to_have_text("2 / 2")
            # Newest first: the second is Alice's, the first image of the room.
            first_id = re.escape(made["images"][0]["image_id"])
            await expect(carol.locator("#viewer-image")).to_have_attribute(
                "src", re.compile(f"/{first_id}\\.png$")
            )
            await carol.keyboard.press("ArrowLeft")
            await expect(carol.locator("#viewer-count")).to_have_text("1 / 2")
            await carol.keyboard.press("Escape")
            await expect(carol.locator("#viewer")).to_be_hidden()
            async with httpx.AsyncClient(base_url=origin) as http:
                (bobs,) = (
                    await http.get("/api/v1/jobs", headers=as_user(shared.bob_cookie))
                ).json()["items"]
            assert bobs["kind"] == "img2img"
            assert bobs["source_image_key"] == made["images"][0]["key"]

            # Remix: a new room of Bob's, its document seeded from the image (his, the newest).
            await bob.locator("#gallery-grid .gallery-open").first.click()
            await bob.locator("#viewer-remix").click()
            await bob.wait_for_url(lambda url: f"/r/{slug}" not in url, timeout=TIMEOUT)
            await expect(bob.locator("#prompt")).to_have_value(
                "the lighthouse at night", timeout=TIMEOUT
            )
            await expect(bob.locator("#my-role")).to_have_text("owner")
            await expect(bob.locator("#source-size")).to_have_text("64\u00d764")
            await expect(bob.locator("#model")).to_have_value("offline-sketch")
        finally:
            await browser.close()
    assert problems == []


async def _csrf(http: httpx.AsyncClient, cookie: str) -> str:
    response = await http.get("/api/v1/auth/session", headers=as_user(cookie))
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token
