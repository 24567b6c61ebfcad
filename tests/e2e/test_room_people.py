"""Starting a group from the room page alone, in a real browser (Debian chromium via Playwright):
the owner creates an invite link; a second person, signed out, opens it, signs in, joins and
appears in the member list; the owner makes them a viewer and then removes them."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.helpers import (
    ARGS,
    CHROMIUM,
    PASSWORD,
    as_user,
    open_room_page,
    record_problems,
    require_chromium,
    sign_up,
)
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


async def _members(origin: str, slug: str, cookie: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=origin) as http:
        response = await http.get(f"/api/v1/rooms/{slug}/members", headers=as_user(cookie))
        assert response.status_code == 200, response.text
        return {m["username"]: m["role"] for m in response.json()["items"]}


async def test_owner_invites_from_the_room_page_then_changes_role_and_removes(
    live_server: LiveServer,
) -> None:
    require_chromium()
    from playwright.async_api import async_playwright, expect

    origin = live_server.http_url
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        alice_cookie, alice_csrf = await sign_up(http, "alice", "Alice")
        http.cookies.clear()
        await sign_up(http, "bob", "Bob <鲍勃>")  # Bob signs in through the browser below
        http.cookies.clear()
        room = await http.post(
            "/api/v1/rooms", json={"title": "Koi pond"}, headers=as_user(alice_cookie, alice_csrf)
        )
        assert room.status_code == 201, room.text
        slug = room.json()["slug"]
    problems: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            alice = await open_room_page(browser, origin, slug, alice_cookie, problems)
            alice.on("dialog", lambda dialog: dialog.accept())
            people = alice.locator("#people-panel")
            await expect(people).to_contain_text("Alice (you)")
            await expect(people).to_contain_text("No active invite links")

            form = alice.locator("#invite-form")
            await form.get_by_label("Joins as").select_option("editor")
            await form.get_by_label("Expires after").select_option(label="1 day")
            await form.get_by_label("Uses").fill("2")
            await alice.get_by_role("button", name="Create invite link").click()
            link = alice.get_by_label("Share this link (shown once)")
            join_url = re.compile(rf"^{re.escape(origin)}/join/[A-Za-z0-9_-]{{20,}}$")
            await expect(link).to_have_value(join_url)
            url = await link.input_value()
            await expect(people).to_contain_text("used 0 of 2")

            # Bob, signed out, opens the link: sign-in first, then back to the invite.
            bob_context = await browser.new_context()
            bob = await bob_context.new_page()
            record_problems(bob, problems, "bob")
            await bob.goto(url)
            await expect(bob).to_have_url(f"{origin}/login?next=/join/{url.rsplit('/', 1)[1]}")
            await bob.get_by_label("Email or username").fill("bob")
            await bob.get_by_label("Password").fill(PASSWORD)
            await bob.get_by_role("button", name="Sign in").click()
            await expect(bob.get_by_role("heading", name="Join “Koi pond”")).to_be_visible()
            await expect(bob.locator("main")).to_contain_text("as editor")
            await bob.get_by_role("button", name="Join the room").click()
            await expect(bob).to_have_url(f"{origin}/r/{slug}")
            await expect(bob.locator("#status")).to_have_text("live", timeout=10_000)
            await expect(bob.locator("#my-role")).to_have_text("editor")
            await expect(bob.locator("#people-panel")).to_contain_text("Bob <鲍勃> (you)")

            # Alice's list picks Bob up from the room's member events, without a reload.
            bob_row = people.locator("li.member", has_text="Bob <鲍勃>")
            await expect(bob_row).to_be_visible(timeout=10_000)
            await expect(people).to_contain_text("used 1 of 2")
            assert await _members(origin, slug, alice_cookie) == {"alice": "owner", "bob": "editor"}

            await alice.get_by_label("Role of Bob <鲍勃>").select_option("viewer")
            await expect(bob.locator("#my-role")).to_have_text("viewer", timeout=10_000)
            await expect(alice.get_by_label("Role of Bob <鲍勃>")).to_have_value("viewer")
            # Bob's panel reloads on the member.role event; removing him while that reload is in
            # flight would answer it 404 (he may no longer see the room), so let it land first.
            bob_self = bob.locator("#people-panel li.member", has_text="(you)")
            await expect(bob_self).to_have_attribute("data-role", "viewer", timeout=10_000)
            assert await _members(origin, slug, alice_cookie) == {"alice": "owner", "bob": "viewer"}

            await alice.get_by_role("button", name="Remove Bob <鲍勃> from the room").click()
            await expect(bob_row).to_have_count(0, timeout=10_000)
            await expect(bob.locator("#status")).to_have_text(
                "You were removed from the room.", timeout=10_000
            )
            assert await _members(origin, slug, alice_cookie) == {"alice": "owner"}

            await alice.get_by_role("button", name="Revoke the editor invite link #1").click()
            await expect(people).to_contain_text("No active invite links")
        finally:
            await browser.close()

    assert problems == []
