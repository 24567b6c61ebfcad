"""The /admin pages through HTTP with a browser session: each renders for admins, 403 for
others, forms need the session's CSRF token, and a form change is audited like the API's."""

from __future__ import annotations

import httpx
from sqlalchemy import update
from sqlmodel import col

from hub.accounts.models import User
from hub.audit import service as audit
from hub.context import HubContext
from tests.helpers import BOTH_DATABASES
from tests.hub.accounts.helpers import signed_up, user_row

HTML = {"accept": "text/html"}
PAGES = ("users", "credits", "rooms", "categories", "prompts", "jobs", "models", "site", "audit")


async def _make_admin(ctx: HubContext, username: str) -> None:
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(User).where(col(User.username_key) == username).values(role="admin")
        )


@BOTH_DATABASES
async def test_admin_pages_render_and_forms_are_audited(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    csrf = await signed_up(client, "ada")
    await _make_admin(ctx, "ada")
    for name in PAGES:
        page = await client.get(f"/admin/{name}", headers=HTML)
        assert page.status_code == 200, (name, page.text)
        assert 'href="/admin/audit"' in page.text
        assert 'aria-current="page"' in page.text
    assert (await client.get("/admin", headers=HTML)).headers["location"] == "/admin/users"
    other = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with other:
        other.headers["origin"] = client.headers["origin"]
        await signed_up(other, "bea")
    bea = await user_row(ctx, "bea")
    assert bea is not None
    url = f"/admin/users/{bea.user_id}"
    forged = await client.post(url, data={"action": "disable", "reason": "spam"}, headers=HTML)
    assert forged.status_code == 403
    done = await client.post(
        url, data={"action": "disable", "reason": "spam", "csrf_token": csrf}, headers=HTML
    )
    assert done.status_code == 303, done.text
    listed = await client.get("/admin/users", params={"is_active": "false"}, headers=HTML)
    assert "@bea" in listed.text
    assert "@ada" not in listed.text
    site = await client.post(
        "/admin/site",
        data={"announcement": "Hello", "signups_open": "1", "csrf_token": csrf},
        headers=HTML,
    )
    assert site.status_code == 303, site.text
    shown = await client.get("/admin/audit", params={"action": "user."}, headers=HTML)
    assert "user.disable" in shown.text
    assert "site.update" not in shown.text
    bad_filter = await client.get("/admin/audit", params={"since": "soon"}, headers=HTML)
    assert bad_filter.status_code == 422
    async with ctx.db.unit_of_work() as session:
        actions = [e.action for e in await audit.entries(session)]
    assert actions == ["site.update", "user.disable"]


async def test_admin_pages_are_403_for_other_users(client: httpx.AsyncClient) -> None:
    csrf = await signed_up(client, "cid")
    for name in PAGES:
        answer = await client.get(f"/admin/{name}", headers=HTML)
        assert answer.status_code == 403, name
    posted = await client.post("/admin/site", data={"csrf_token": csrf}, headers=HTML)
    assert posted.status_code == 403
