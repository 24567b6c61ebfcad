"""Cookie replay after logout: a copy of the session cookie is worth nothing once its session
ended, on every page, every socket and every unsafe operation of the app (all enumerated from
the app, ``routes.py``), and the sockets it had open are closed (docs/accounts.md).
"""

from __future__ import annotations

import pytest

from rooms import close_codes
from tests.rooms.ykit import EventClient
from tests.security.conftest import Person, Site
from tests.security.routes import fill, operations, pages, sockets
from tests.security.test_origins import _first_or_close, _handshake

pytestmark = pytest.mark.slow

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


async def _member(site: Site, username: str) -> Person:
    """A new person who is an editor of the site's room."""
    person = await site.person(username)
    async with site.http() as http:
        slug = site.params["slug"]
        invite = await http.post(
            f"/api/v1/rooms/{slug}/invites", json={"role": "editor"}, headers=site.alice.api
        )
        token = invite.json()["token"]
        accepted = await http.post(f"/api/v1/invites/{token}/accept", headers=person.api)
    assert accepted.status_code == 200, accepted.text
    return person


async def _replay_pages(site: Site, person: Person) -> list[str]:
    wrong = []
    async with site.http() as http:
        for path in pages(site.live.app):
            url = fill(path, site.params)
            page = await http.get(url, headers={"cookie": f"hub_session={person.cookie}"})
            if person.csrf in page.text or 'action="/logout"' in page.text:
                wrong.append(f"GET {url}: still signed in")
        for path in ("/api/v1/me", "/api/v1/auth/session"):
            answer = await http.get(path, headers={"cookie": f"hub_session={person.cookie}"})
            if answer.status_code != 401:
                wrong.append(f"GET {path}: {answer.status_code}")
    return wrong


async def _replay_sockets(site: Site, person: Person) -> list[str]:
    wrong = []
    headers = {"cookie": f"hub_session={person.cookie}", "origin": site.url}
    for path in sockets(site.live.app):
        ws = await _handshake(site.live.ws_url + fill(path, site.params), headers)
        if isinstance(ws, int):
            continue  # refused at the handshake: fine too
        code = await _first_or_close(ws)
        await ws.close()
        if code is None:
            wrong.append(f"{path}: admitted")
    return wrong


async def _replay_unsafe(site: Site, person: Person) -> list[str]:
    wrong = []
    async with site.http() as http:
        document = (await http.get("/api/v1/openapi.json")).json()
        for op in operations(document):
            if op.method not in UNSAFE or not op.authenticated:
                continue
            path = fill(op.path, site.params)
            answer = await http.request(op.method, path, json={}, headers=person.browser)
            if answer.status_code != 401:
                wrong.append(f"{op.method} {op.path}: {answer.status_code}")
    return wrong


async def _replay(site: Site, person: Person) -> None:
    before = await site.row_counts()
    wrong = await _replay_pages(site, person)
    wrong += await _replay_sockets(site, person)
    wrong += await _replay_unsafe(site, person)
    assert wrong == [], "\n".join(wrong)
    assert await site.row_counts() == before


async def _open_events(site: Site, person: Person) -> EventClient:
    url = f"{site.live.ws_url}/rooms/{site.params['slug']}/events"
    events = await EventClient.open(
        url, additional_headers={"cookie": f"hub_session={person.cookie}", "origin": site.url}
    )
    await events.wait_for("welcome")
    return events


async def test_the_cookie_is_worthless_after_the_logout_form(site: Site) -> None:
    """Carol signs out with the form; her open room socket closes with 4401, and her old
    cookie (with her old CSRF token) opens no page as her, no socket, and changes nothing
    through any unsafe operation (401). About 5 s."""
    carol = await _member(site, "carol")
    events = await _open_events(site, carol)
    async with site.http() as http:
        home = await http.get("/", headers={"cookie": f"hub_session={carol.cookie}"})
        assert carol.csrf in home.text  # signed in: the control for the check below
        out = await http.post(
            "/logout",
            data={"csrf_token": carol.csrf},
            headers={"cookie": f"hub_session={carol.cookie}"},
        )
    assert out.status_code == 303, out.text
    assert await events.wait_closed(timeout=10) == close_codes.UNAUTHENTICATED
    await _replay(site, carol)


async def test_the_cookie_is_worthless_after_the_api_logout(site: Site) -> None:
    """The same after ``POST /api/v1/auth/logout``. About 5 s."""
    dave = await _member(site, "dave")
    events = await _open_events(site, dave)
    async with site.http() as http:
        out = await http.post("/api/v1/auth/logout", headers=dave.browser)
    assert out.status_code == 204, out.text
    assert await events.wait_closed(timeout=10) == close_codes.UNAUTHENTICATED
    await _replay(site, dave)
