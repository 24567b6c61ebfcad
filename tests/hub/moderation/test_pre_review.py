"""Pre-review (HUB_PRE_REVIEW_NEW_ACCOUNTS on): a new account's works, threads and comments wait
for a moderator's approval, visible to their author and moderators only; trusted accounts skip
it. Off (the default): post first, review on report."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hub.context import HubContext
from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.moderation.helpers import ADMIN, API, comment, member, published_work, thread


@pytest.fixture
def moderation_overrides() -> dict[str, Any]:
    return {"pre_review_new_accounts": True}


@BOTH_DATABASES
async def test_new_accounts_wait_for_approval(
    client: httpx.AsyncClient, db: Database, ctx: HubContext
) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    mod = await member(db, "moddy", role="moderator")
    thread_id = await thread(client, ada)
    work_id = await published_work(client, ctx, ada)

    for url in (f"{API}/threads/{thread_id}", f"{API}/works/{work_id}"):
        assert (await client.get(url)).status_code == 404
        assert (await client.get(url, headers=bob.headers)).status_code == 404
        own = (await client.get(url, headers=ada.headers)).json()
        assert (own["hidden"], own["held"]) == (True, True)
        assert (await client.get(url, headers=mod.headers)).status_code == 200
    queue = (await client.get(f"{ADMIN}/reports", headers=mod.headers)).json()["items"]
    assert [(r["kind"], r["target"]["target_type"]) for r in queue] == [
        ("pre_review", "thread"),
        ("pre_review", "work"),
    ]
    thread_item, work_item = (f"{ADMIN}/reports/{r['report_id']}/resolve" for r in queue)
    refused = await client.post(thread_item, json={"action": "dismiss"}, headers=mod.headers)
    assert refused.status_code == 409
    approved = await client.post(thread_item, json={"action": "approve"}, headers=mod.headers)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["resolution"], approved.json()["target"]["held"]) == ("approve", False)
    assert (await client.get(f"{API}/threads/{thread_id}")).status_code == 200
    hidden = await client.post(
        work_item, json={"action": "hide", "reason": "Not allowed here"}, headers=mod.headers
    )
    assert hidden.json()["target"]["hidden_reason"] == "Not allowed here"
    assert (await client.get(f"{API}/works/{work_id}")).status_code == 404

    # A comment by a new account is held in its place; a trusted account's is not.
    held = await comment(client, bob, thread_id, "first!")
    seen = (await client.get(f"{API}/threads/{thread_id}/comments")).json()["items"]
    assert [(c["comment_id"], c["hidden"], c["body"]) for c in seen] == [(held, True, "")]
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["comment_count"] == 0
    trust = await client.patch(
        f"{ADMIN}/users/{bob.user_id}/trust", json={"level": "trusted"}, headers=mod.headers
    )
    assert trust.status_code == 200
    open_comment = await comment(client, bob, thread_id, "second")
    seen = (await client.get(f"{API}/threads/{thread_id}/comments")).json()["items"]
    assert [(c["comment_id"], c["hidden"]) for c in seen] == [(held, True), (open_comment, False)]
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["comment_count"] == 1


@BOTH_DATABASES
async def test_the_admins_site_switch_turns_it_on_at_run_time(
    client: httpx.AsyncClient, db: Database, ctx: HubContext
) -> None:
    """The same hold through ``PATCH /api/v1/admin/site`` with the environment's switch off."""
    ctx.settings = ctx.db.settings = ctx.settings.model_copy(
        update={"pre_review_new_accounts": False}
    )
    ada, boss = await member(db, "ada"), await member(db, "boss", role="admin")
    first = await thread(client, ada)
    assert (await client.get(f"{API}/threads/{first}")).status_code == 200
    switched = await client.patch(
        f"{ADMIN}/site", json={"pre_review_new_accounts": True}, headers=boss.headers
    )
    assert switched.status_code == 200, switched.text
    held = await thread(client, ada)
    assert (await client.get(f"{API}/threads/{held}")).status_code == 404
    own = (await client.get(f"{API}/threads/{held}", headers=ada.headers)).json()
    assert own["held"] is True
