"""Browsers and API clients for the live notification socket tests: accounts with passwords,
sign-ins through HTTP, and the socket opened as a page would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from hub.accounts.users import create_user
from hub.context import HubContext
from tests.hub.notifications.helpers import API
from tests.live import LiveServer
from tests.rooms.ykit import EventClient

PASSWORD = "correct horse battery"


def ctx_of(live: LiveServer) -> HubContext:
    ctx: HubContext = live.app.state.ctx
    return ctx


def http(live: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=live.http_url, timeout=10)


async def account(live: LiveServer, username: str) -> int:
    async with ctx_of(live).db.unit_of_work() as session:
        user = await create_user(
            session,
            email=f"{username}@example.test",
            username=username,
            password=PASSWORD,
            display_name=username.title(),
        )
        assert user.user_id is not None
        return user.user_id


@dataclass(frozen=True)
class Browser:
    """One browser session on one server: its cookie and CSRF token."""

    live: LiveServer
    cookie: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {
            "cookie": f"hub_session={self.cookie}",
            "origin": self.live.http_url,
            "x-csrf-token": self.csrf,
        }

    async def open(self, live: LiveServer | None = None) -> EventClient:
        """The page's socket, on ``live`` (another process of the same hub) or this one."""
        server = live or self.live
        headers = {"cookie": f"hub_session={self.cookie}", "origin": server.http_url}
        return await open_live(server, additional_headers=headers)


async def sign_in(live: LiveServer, username: str) -> Browser:
    async with http(live) as api:
        answer = await api.post(
            f"{API}/auth/login",
            json={"login": username, "password": PASSWORD},
            headers={"origin": live.http_url},
        )
    assert answer.status_code == 200, answer.text
    return Browser(live, answer.cookies["hub_session"], answer.json()["csrf_token"])


async def token_pair(live: LiveServer, username: str) -> dict[str, Any]:
    async with http(live) as api:
        answer = await api.post(f"{API}/auth/token", json={"login": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    pair: dict[str, Any] = answer.json()
    return pair


def live_url(live: LiveServer, token: str | None = None) -> str:
    url = f"{live.ws_url}{API}/notifications/live"
    return f"{url}?token={token}" if token else url


async def open_live(live: LiveServer, token: str | None = None, **kwargs: Any) -> EventClient:
    return await EventClient.open(live_url(live, token), **kwargs)


async def follow(browser: Browser, username: str, via: LiveServer | None = None) -> None:
    """``browser`` follows ``username`` through the API of ``via`` (default: its own server)."""
    async with http(via or browser.live) as api:
        headers = {**browser.headers, "origin": (via or browser.live).http_url}
        answer = await api.put(f"{API}/users/{username}/follow", headers=headers)
    assert answer.status_code == 200, answer.text
