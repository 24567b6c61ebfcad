"""The moderation pages through HTTP with a browser session: the report button's form, the
queue with its resolve buttons, and the block-list, each a CSRF-checked form post."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from hub.accounts.models import User
from hub.context import HubContext
from hub.db import Database
from tests.hub.accounts.helpers import signed_up
from tests.hub.moderation.helpers import API, member, published_work

HTML = {"accept": "text/html"}


async def test_report_button_queue_and_blocklist_pages(
    client: httpx.AsyncClient, db: Database, ctx: HubContext
) -> None:
    ada = await member(db, "ada")
    work_id = await published_work(client, ctx, ada)
    url = (await client.get(f"{API}/works/{work_id}")).json()["url"]
    assert (await client.get("/admin/reports", headers=HTML)).status_code == 303

    csrf = await signed_up(client, "carol")
    page = await client.get(url, headers=HTML)
    assert 'action="/report"' in page.text
    form = {"target_type": "work", "target_id": str(work_id), "reason": "Looks stolen"}
    assert (await client.post("/report", data=form)).status_code == 403  # no CSRF token
    sent = await client.post("/report", data={**form, "csrf_token": csrf})
    assert sent.status_code == 200
    assert 'id="report-sent"' in sent.text
    again = await client.post("/report", data={**form, "csrf_token": csrf})
    assert 'id="report-known"' in again.text
    bad = await client.post("/report", data={**form, "reason": "", "csrf_token": csrf})
    assert bad.status_code == 422
    assert (await client.get("/admin/reports", headers=HTML)).status_code == 403

    async with db.unit_of_work() as session:
        await session.execute(
            update(User).where(User.username == "carol").values(role="moderator")  # type: ignore[arg-type]
        )
    queue = await client.get("/admin/reports", headers=HTML)
    assert queue.status_code == 200
    assert "Looks stolen" in queue.text
    report_id = (await client.get(f"{API}/admin/reports")).json()["items"][0]["report_id"]
    resolve = f"/admin/reports/{report_id}/resolve"
    missing = await client.post(resolve, data={"action": "hide", "csrf_token": csrf})
    assert missing.status_code == 422
    assert 'id="queue-error"' in missing.text
    hidden = await client.post(
        resolve, data={"action": "hide", "reason": "Stolen art", "csrf_token": csrf}
    )
    assert (hidden.status_code, hidden.headers["location"]) == (303, "/admin/reports")
    assert 'id="queue-empty"' in (await client.get("/admin/reports", headers=HTML)).text
    own = await client.get(url, headers={**HTML, **ada.headers})
    assert "Stolen art" in own.text

    added = await client.post("/admin/blocklist", data={"term": "Kraken", "csrf_token": csrf})
    assert added.status_code == 303
    listed = await client.get("/admin/blocklist", headers=HTML)
    assert "Kraken" in listed.text
    term_id = (await client.get(f"{API}/admin/blocklist")).json()["items"][0]["term_id"]
    removed = await client.post(f"/admin/blocklist/{term_id}/delete", data={"csrf_token": csrf})
    assert removed.status_code == 303
    assert (await client.get(f"{API}/admin/blocklist")).json()["items"] == []

    client.cookies.clear()
    assert (await client.get(url, headers=HTML)).status_code == 404
