"""The /notifications page and the bell in the header: signed-in only, escaped, marking read
with forms (CSRF-checked), bad queries rendered as error pages."""

from __future__ import annotations

import re

import httpx
import pytest
from markupsafe import escape

from hub.context import HubContext
from hub.notifications import service
from hub.notifications.service import NotificationKind
from tests.helpers import BOTH_DATABASES
from tests.hub.accounts.helpers import signed_up
from tests.hub.notifications.helpers import API, person

HTML = {"accept": "text/html"}

# Real payloads: tags, attribute breakouts, handlers, javascript: URLs, entity tricks.
XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg/onload=alert(1)>",
    "<a href=javascript:alert(1)>x</a>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<iframe srcdoc='<script>alert(1)</script>'>",
]


async def _my_id(client: httpx.AsyncClient) -> int:
    return int((await client.get(f"{API}/me")).json()["user_id"])


async def _tell(ctx: HubContext, user_id: int, text: str, actor_id: int | None = None) -> None:
    async with ctx.db.unit_of_work() as session:
        await service.notify(
            session,
            recipient_id=user_id,
            kind=NotificationKind.reply,
            actor_id=actor_id,
            text=text,
            url="/t/1/x",
            subject_type="thread",
            subject_id="1",
        )


async def test_the_page_needs_a_sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.get("/notifications", headers=HTML)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/notifications"
    assert (await client.post("/notifications/read-all")).status_code == 303


async def test_the_bell_shows_to_signed_in_visitors_only(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/", headers=HTML)
    assert 'id="bell"' not in anonymous.text
    await signed_up(client, "ada")
    home = await client.get("/", headers=HTML)
    assert 'id="bell"' in home.text
    assert "/js/bell.js" in home.text
    # Error pages render with or without it.
    missing = await client.get("/r/no-such-room", headers=HTML)
    assert missing.status_code == 404
    static = await client.get("/static/js/bell.js")
    assert static.status_code == 200
    assert "/api/v1/notifications/live" in static.text


@BOTH_DATABASES
@pytest.mark.parametrize("payload", XSS)
async def test_the_list_is_escaped(
    client: httpx.AsyncClient, ctx: HubContext, payload: str
) -> None:
    await signed_up(client, "ada")
    villain = await person(ctx, "villain", payload)
    async with ctx.db.unit_of_work() as session:
        from hub.social.service import follow

        await follow(session, villain.actor, "ada", True, limiter=None)
    await _tell(ctx, await _my_id(client), payload, actor_id=villain.user_id)
    page = await client.get("/notifications", headers=HTML)
    assert page.status_code == 200
    # In the follow notice (the display name) and the reply's text, escaped both times.
    assert payload not in page.text
    assert page.text.count(str(escape(payload))) == 2
    assert page.text.count('class="unread"') == 2
    assert '<span id="notices-unread">2</span>' in page.text


@BOTH_DATABASES
async def test_mark_read_forms(client: httpx.AsyncClient, ctx: HubContext) -> None:
    csrf = await signed_up(client, "ada")
    me = await _my_id(client)
    for text in ("first", "second", "third"):
        await _tell(ctx, me, text)
    page = await client.get("/notifications", headers=HTML)
    ids = re.findall(r'action="/notifications/(\d+)/read"', page.text)
    assert len(ids) == 3
    refused = await client.post(f"/notifications/{ids[0]}/read", data={})
    assert refused.status_code == 403
    marked = await client.post(f"/notifications/{ids[0]}/read", data={"csrf_token": csrf})
    assert (marked.status_code, marked.headers["location"]) == (303, "/notifications")
    assert (await client.get(f"{API}/notifications")).json()["unread_count"] == 2
    other = await client.post("/notifications/99999/read", data={"csrf_token": csrf}, headers=HTML)
    assert other.status_code == 404
    everything = await client.post("/notifications/read-all", data={"csrf_token": csrf})
    assert everything.status_code == 303
    after = await client.get("/notifications", headers=HTML)
    assert 'class="unread"' not in after.text
    assert "Mark all read" not in after.text
    unread_only = await client.get("/notifications?unread=true", headers=HTML)
    assert "Nothing yet" in unread_only.text


async def test_pages_of_the_list_and_bad_queries(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    await signed_up(client, "ada")
    me = await _my_id(client)
    for i in range(25):
        await _tell(ctx, me, f"notice {i}")
    first = await client.get("/notifications", headers=HTML)
    older = re.search(r'href="(/notifications\?cursor=[^"]+)"', first.text)
    assert older is not None
    second = await client.get(older.group(1).replace("&amp;", "&"), headers=HTML)
    assert second.text.count("<li class=") == 5
    assert "notice 0" in second.text
    assert (await client.get("/notifications?cursor=bad!", headers=HTML)).status_code == 400
    bad_limit = await client.get("/notifications?limit=0", headers=HTML)
    assert bad_limit.status_code == 422
    assert "text/html" in bad_limit.headers["content-type"]
