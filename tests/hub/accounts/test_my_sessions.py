"""``GET /api/v1/me/sessions`` (my signed-in browsers) and ``DELETE /api/v1/me/sessions``
("sign out everywhere else") through HTTP, with the bad callers: no sign-in, a personal token,
a missing CSRF token."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TEST_ORIGIN
from tests.helpers import BOTH_DATABASES

from .helpers import PASSWORD, bearer, live_families, session_count, signed_up, token_pair

SESSIONS = "/api/v1/me/sessions"


def _browser(app: Any, user_agent: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=TEST_ORIGIN,
        headers={"origin": TEST_ORIGIN, "user-agent": user_agent},
    )


@BOTH_DATABASES
async def test_sessions_are_listed_then_all_others_end(app: Any, ctx: Any) -> None:
    async with _browser(app, "Laptop") as laptop, _browser(app, "Phone") as phone:
        csrf = await signed_up(laptop)
        login = await phone.post(
            "/api/v1/auth/login", json={"login": "alice", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        pair = await token_pair(phone)
        async with _browser(app, "Other") as stranger:
            await signed_up(stranger, "bob")

        listed = await laptop.get(SESSIONS)
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert sorted(i["user_agent"] for i in items) == ["Laptop", "Phone"]
        assert [i["current"] for i in items if i["user_agent"] == "Laptop"] == [True]
        assert [i["current"] for i in items if i["user_agent"] == "Phone"] == [False]
        # The reference is no secret: not the cookie, not its stored digest.
        for item in items:
            assert len(item["session_ref"]) == 16
            assert item["session_ref"] not in laptop.cookies["hub_session"]
            assert set(item) == {
                "session_ref",
                "current",
                "created_at",
                "last_seen_at",
                "expires_at",
                "user_agent",
                "ip",
            }

        ended = await laptop.delete(SESSIONS, headers={"x-csrf-token": csrf})
        assert ended.status_code == 200, ended.text
        assert ended.json() == {"sessions": 1, "token_families": 1}
        # This browser stays; the phone and its API sign-in are out; Bob is untouched.
        assert (await laptop.get("/api/v1/me")).status_code == 200
        assert (await phone.get("/api/v1/me")).status_code == 401
        phone.cookies.clear()
        stale = await phone.get("/api/v1/me", headers=bearer(pair["access_token"]))
        assert stale.status_code == 401
        assert [i["user_agent"] for i in (await laptop.get(SESSIONS)).json()["items"]] == ["Laptop"]
        assert await session_count(ctx) == 2
        assert await live_families(ctx) == 0
        again = await laptop.delete(SESSIONS, headers={"x-csrf-token": csrf})
        assert again.json() == {"sessions": 0, "token_families": 0}


async def test_an_access_token_signs_out_the_browsers_and_keeps_its_family(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client)
    keep = await token_pair(client)
    await token_pair(client)
    client.cookies.clear()
    headers = bearer(keep["access_token"])
    listed = await client.get(SESSIONS, headers=headers)
    assert listed.status_code == 200
    assert [i["current"] for i in listed.json()["items"]] == [False]
    ended = await client.delete(SESSIONS, headers=headers)
    assert ended.json() == {"sessions": 1, "token_families": 1}
    assert await live_families(ctx) == 1
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200


async def test_bad_callers_are_refused_and_end_nothing(client: httpx.AsyncClient, ctx: Any) -> None:
    csrf = await signed_up(client)
    created = await client.post(
        "/api/v1/me/tokens", json={"name": "script"}, headers={"x-csrf-token": csrf}
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    # Without the CSRF token, the cookie is not enough.
    refused = await client.delete(SESSIONS)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    # A personal token can neither read nor end sign-ins.
    cookies = dict(client.cookies)
    client.cookies.clear()
    for method in ("GET", "DELETE"):
        answer = await client.request(method, SESSIONS, headers=bearer(secret))
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "forbidden"
        anonymous = await client.request(method, SESSIONS)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthenticated"
    client.cookies.update(cookies)
    assert await session_count(ctx) == 1
    assert (await client.get("/api/v1/me")).status_code == 200
