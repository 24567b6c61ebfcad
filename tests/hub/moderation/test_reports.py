"""Reports and the review queue through HTTP: report → queue → hide with a reason → the work
is a 404 for everyone but its author (who reads the reason) and moderators; the bad input."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from hub.context import HubContext
from hub.db import Database
from hub.notifications.models import Notification
from hub.search.models import SearchEntry
from tests.helpers import BOTH_DATABASES
from tests.hub.moderation.helpers import (
    ADMIN,
    API,
    audit_actions,
    comment,
    member,
    published_work,
    report,
    thread,
)


@BOTH_DATABASES
async def test_report_then_hide_a_work_with_a_reason(
    client: httpx.AsyncClient, db: Database, ctx: HubContext
) -> None:
    ada, bob, cy = await member(db, "ada"), await member(db, "bob"), await member(db, "cyd")
    mod = await member(db, "moddy", role="moderator")
    work_id = await published_work(client, ctx, ada)

    first = await report(client, bob, "work", work_id, "spam")
    assert first.status_code == 201, first.text
    again = await report(client, bob, "work", work_id, "spam, really")
    assert (again.status_code, again.json()["created"]) == (201, False)
    assert again.json()["report_id"] == first.json()["report_id"]
    assert (await report(client, cy, "work", str(work_id), "stolen art")).status_code == 201
    assert (await report(client, None, "work", work_id, "x")).status_code == 401

    assert (await client.get(f"{ADMIN}/reports", headers=bob.headers)).status_code == 403
    assert (await client.get(f"{ADMIN}/reports")).status_code == 401
    queue = (await client.get(f"{ADMIN}/reports?state=open", headers=mod.headers)).json()
    assert [(r["reason"], r["kind"], r["target"]["hidden"]) for r in queue["items"]] == [
        ("spam", "report", False),
        ("stolen art", "report", False),
    ]
    report_id = queue["items"][0]["report_id"]
    resolve = f"{ADMIN}/reports/{report_id}/resolve"
    for bad in (
        {"action": "burn", "reason": "x"},
        {"action": "hide"},
        {"action": "hide", "reason": " "},
    ):
        refused = await client.post(resolve, json=bad, headers=mod.headers)
        assert refused.status_code == 422, bad
    assert (
        await client.post(resolve, json={"action": "dismiss"}, headers=bob.headers)
    ).status_code == 403
    assert (
        await client.post(
            f"{ADMIN}/reports/999999/resolve", json={"action": "dismiss"}, headers=mod.headers
        )
    ).status_code == 404

    done = await client.post(
        resolve, json={"action": "hide", "reason": "Not your art"}, headers=mod.headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "resolved"
    assert done.json()["target"]["hidden_reason"] == "Not your art"
    # The same resolution again is a no-op; another one is a conflict.
    assert (
        await client.post(resolve, json={"action": "hide", "reason": "x"}, headers=mod.headers)
    ).status_code == 200
    assert (
        await client.post(resolve, json={"action": "dismiss"}, headers=mod.headers)
    ).status_code == 409
    # Both reports of the work left the queue.
    assert (await client.get(f"{ADMIN}/reports", headers=mod.headers)).json()["items"] == []

    url = f"{API}/works/{work_id}"
    assert (await client.get(url)).status_code == 404
    assert (await client.get(url, headers=bob.headers)).status_code == 404
    own = (await client.get(url, headers=ada.headers)).json()
    assert (own["hidden"], own["hidden_reason"]) == (True, "Not your art")
    assert (await client.get(url, headers=mod.headers)).status_code == 200
    latest = (await client.get(f"{API}/feed?sort=latest")).json()["items"]
    assert work_id not in [w["work_id"] for w in latest]

    # Reporting a hidden work is idempotent: nothing queued.
    late = await report(client, cy, "work", work_id, "again")
    assert (late.status_code, late.json()["created"]) == (201, False)
    assert (late.json()["report_id"], late.json()["target"]["hidden"]) == (None, True)
    # Hiding it twice changes nothing either.
    hide = f"{ADMIN}/moderation/work/{work_id}/hide"
    assert (
        await client.post(hide, json={"reason": "twice"}, headers=mod.headers)
    ).status_code == 200
    actions = await audit_actions(db)
    assert [a for a in actions if a[0] == "moderation.hide_work"] == [
        ("moderation.hide_work", str(work_id), "Not your art")
    ]
    assert ("moderation.resolve_report", str(report_id), "Not your art") in actions
    async with db.unit_of_work() as session:
        notices = list(
            await session.scalars(
                select(Notification).where(Notification.recipient_id == ada.user_id)  # type: ignore[arg-type]
            )
        )
        doc = await session.scalar(
            select(SearchEntry).where(
                col(SearchEntry.kind) == "work", col(SearchEntry.ref_id) == str(work_id)
            )
        )
    assert [n.kind for n in notices] == ["moderation"]
    assert "Not your art" in notices[0].text
    assert doc is None or doc.public is False

    restored = await client.post(
        f"{ADMIN}/moderation/work/{work_id}/restore", json={"reason": "appeal"}, headers=mod.headers
    )
    assert restored.json()["hidden"] is False
    assert (await client.get(url)).status_code == 200


@BOTH_DATABASES
async def test_unknown_targets_are_404_and_bad_input_422(
    client: httpx.AsyncClient, db: Database
) -> None:
    bob, mod = await member(db, "bob"), await member(db, "moddy", role="moderator")
    for target_type, target_id in [
        ("work", 424242),
        ("thread", 424242),
        ("comment", "424242"),
        ("room", "no-such-room"),
        ("user", 424242),
        ("work", "abc"),
        ("work", -1),
    ]:
        response = await report(client, bob, target_type, target_id, "spam")
        assert response.status_code == 404, (target_type, target_id, response.text)
        assert response.json()["error"]["code"] == "not_found"
        hidden = await client.post(
            f"{ADMIN}/moderation/{target_type}/{target_id}/hide",
            json={"reason": "x"},
            headers=mod.headers,
        )
        assert hidden.status_code == 404, (target_type, target_id)
    for body in (
        {"target_type": "planet", "target_id": 1, "reason": "x"},
        {"target_type": "work", "target_id": 1, "reason": ""},
        {"target_type": "work", "target_id": 1},
        {"target_type": "work", "target_id": 1.5, "reason": "x"},
    ):
        response = await client.post(f"{API}/reports", json=body, headers=bob.headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    assert (
        await client.post(
            f"{ADMIN}/moderation/planet/1/hide", json={"reason": "x"}, headers=mod.headers
        )
    ).status_code == 404
    assert (
        await client.post(
            f"{ADMIN}/moderation/user/{bob.user_id}/hide", json={}, headers=mod.headers
        )
    ).status_code == 422
    assert (
        await client.post(
            f"{ADMIN}/moderation/user/{bob.user_id}/hide", json={"reason": "x"}, headers=bob.headers
        )
    ).status_code == 403
    assert (
        await client.post(f"{ADMIN}/moderation/user/{bob.user_id}/hide", json={"reason": "x"})
    ).status_code == 401
    assert (
        await client.get(f"{ADMIN}/reports?state=closed", headers=mod.headers)
    ).status_code == 422
    assert (await client.get(f"{ADMIN}/reports?cursor=zz", headers=mod.headers)).status_code == 400


@BOTH_DATABASES
async def test_hidden_threads_and_comments(client: httpx.AsyncClient, db: Database) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    mod = await member(db, "moddy", role="moderator")
    thread_id = await thread(client, ada)
    kept = await comment(client, bob, thread_id, "kind words")
    rude = await comment(client, bob, thread_id, "rude words")

    hidden = await client.post(
        f"{ADMIN}/moderation/comment/{rude}/hide", json={"reason": "Be kind"}, headers=mod.headers
    )
    assert hidden.status_code == 200, hidden.text
    seen = (await client.get(f"{API}/threads/{thread_id}/comments")).json()["items"]
    assert [(c["comment_id"], c["hidden"], c["body"]) for c in seen] == [
        (kept, False, "kind words"),
        (rude, True, ""),
    ]
    own = (await client.get(f"{API}/threads/{thread_id}/comments", headers=bob.headers)).json()
    assert (own["items"][1]["body"], own["items"][1]["hidden_reason"]) == ("rude words", "Be kind")
    assert (await client.get(f"{API}/threads/{thread_id}")).json()["comment_count"] == 1

    assert (
        await client.post(
            f"{ADMIN}/moderation/thread/{thread_id}/hide",
            json={"reason": "Off topic"},
            headers=mod.headers,
        )
    ).status_code == 200
    assert (await client.get(f"{API}/threads/{thread_id}")).status_code == 404
    assert (await client.get(f"{API}/threads/{thread_id}", headers=bob.headers)).status_code == 404
    mine = (await client.get(f"{API}/threads/{thread_id}", headers=ada.headers)).json()
    assert (mine["hidden"], mine["hidden_reason"]) == (True, "Off topic")
    listed = (await client.get(f"{API}/threads")).json()["items"]
    assert thread_id not in [t["thread_id"] for t in listed]
    assert (await report(client, bob, "thread", thread_id, "x")).json()["report_id"] is None


@BOTH_DATABASES
async def test_a_hidden_room_cannot_be_joined(client: httpx.AsyncClient, db: Database) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    mod = await member(db, "moddy", role="moderator")
    made = await client.post(
        f"{API}/rooms", json={"title": "Dock", "visibility": "public"}, headers=ada.headers
    )
    slug = made.json()["slug"]
    invite = await client.post(
        f"{API}/rooms/{slug}/invites", json={"role": "editor"}, headers=ada.headers
    )
    assert (await report(client, bob, "room", slug, "scam links")).status_code == 201
    hide = f"{ADMIN}/moderation/room/{slug}/hide"
    assert (
        await client.post(hide, json={"reason": "Scam"}, headers=mod.headers)
    ).status_code == 200
    accepted = await client.post(
        f"{API}/invites/{invite.json()['token']}/accept", headers=bob.headers
    )
    assert accepted.status_code == 409
    public = (await client.get(f"{API}/rooms?scope=public")).json()["items"]
    assert slug not in [r["slug"] for r in public]
    assert (await client.get(f"{ADMIN}/reports", headers=mod.headers)).json()["items"] == []


@BOTH_DATABASES
async def test_a_suspended_user_cannot_post(client: httpx.AsyncClient, db: Database) -> None:
    bob, mod = await member(db, "bob"), await member(db, "moddy", role="moderator")
    user = f"{ADMIN}/moderation/user/{bob.user_id}"
    assert (await report(client, mod, "user", bob.user_id, "spammer")).status_code == 201
    assert (
        await client.post(f"{user}/hide", json={"reason": "Spam"}, headers=mod.headers)
    ).status_code == 200
    body = {"category": "general", "title": "Buy now", "body": "cheap"}
    refused = await client.post(f"{API}/threads", json=body, headers=bob.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert (await client.post(f"{user}/restore", json={}, headers=mod.headers)).status_code == 200
    assert (await client.post(f"{API}/threads", json=body, headers=bob.headers)).status_code == 201
    assert [a[0] for a in await audit_actions(db)] == [
        "moderation.hide_user",
        "moderation.restore_user",
    ]


@pytest.mark.parametrize("level", ["member", "trusted"])
async def test_trust_levels_lift_the_new_account_limits(
    client: httpx.AsyncClient, db: Database, level: str
) -> None:
    bob, mod = await member(db, "bob"), await member(db, "moddy", role="moderator")
    url = f"{ADMIN}/users/{bob.user_id}/trust"
    assert (await client.patch(url, json={"level": level})).status_code == 401
    assert (await client.patch(url, json={"level": level}, headers=bob.headers)).status_code == 403
    assert (
        await client.patch(url, json={"level": "saint"}, headers=mod.headers)
    ).status_code == 422
    assert (
        await client.patch(
            f"{ADMIN}/users/424242/trust", json={"level": level}, headers=mod.headers
        )
    ).status_code == 404
    done = await client.patch(url, json={"level": level}, headers=mod.headers)
    assert done.status_code == 200, done.text
    assert done.json() == {"user_id": bob.user_id, "level": level, "effective": level}
    back = await client.patch(url, json={"level": None}, headers=mod.headers)
    assert back.json()["effective"] == "new"  # a young account again
    assert [a[0] for a in await audit_actions(db)] == ["user.trust", "user.trust"]
