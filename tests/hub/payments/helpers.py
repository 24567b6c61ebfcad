"""People and purchases for the payments tests, made through HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.e2e.helpers import sign_up


@dataclass(frozen=True)
class Browser:
    """A signed-in browser: its session cookie and CSRF token."""

    user_id: int
    cookie: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"cookie": f"hub_session={self.cookie}", "x-csrf-token": self.csrf}

    @property
    def form(self) -> dict[str, str]:
        return {"csrf_token": self.csrf}


async def browser(http: httpx.AsyncClient, username: str) -> Browser:
    cookie, csrf = await sign_up(http, username, username.title())
    http.cookies.clear()
    me = await http.get("/api/v1/me", headers={"cookie": f"hub_session={cookie}"})
    assert me.status_code == 200, me.text
    return Browser(int(me.json()["user_id"]), cookie, csrf)


async def balance(http: httpx.AsyncClient, who: Browser) -> int:
    answer = await http.get("/api/v1/credits", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["balance"])


async def checkout(http: httpx.AsyncClient, who: Browser, item: str) -> dict[str, str]:
    answer = await http.post("/api/v1/payments/checkout", json={"item": item}, headers=who.headers)
    assert answer.status_code == 201, answer.text
    body: dict[str, str] = answer.json()
    return body


async def confirm_offline(http: httpx.AsyncClient, who: Browser, payment_id: str) -> httpx.Response:
    return await http.post(
        f"/payments/offline/{payment_id}/confirm",
        data=who.form,
        headers={"cookie": f"hub_session={who.cookie}"},
    )
