"""The admin API through HTTP on SQLite and Postgres: each rule, each bad input, and the audit
entry every change leaves (before/after, in the change's transaction)."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from hub.audit import service as audit
from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import assert_books_balance, bearer, make_user, wallet

API = "/api/v1/admin"
ANON_HEADERS = {"accept": "application/json"}


async def _actions(db: Database, prefix: str = "") -> list[tuple[str, str, object, object]]:
    async with db.unit_of_work() as session:
        rows = await audit.entries(session, action=prefix or None)
    return [(r.action, r.target_id, r.before, r.after) for r in rows]


READS = [
    ("GET", f"{API}/users", None),
    ("GET", f"{API}/rooms", None),
    ("GET", f"{API}/site", None),
    ("GET", f"{API}/audit", None),
    ("GET", f"{API}/audit.csv", None),
    ("GET", f"{API}/models", None),
    ("PATCH", f"{API}/users/1", {"is_active": False}),
    ("PATCH", f"{API}/site", {"signups_open": False}),
    ("PUT", f"{API}/models/offline-fast", {"min_role": "admin"}),
    ("POST", f"{API}/rooms/some-room/close", {"reason": "x"}),
    ("POST", f"{API}/jobs/abc/cancel", {"reason": "x"}),
]


@BOTH_DATABASES
async def test_admin_routes_refuse_anonymous_401_and_non_admins_403(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = await bearer(db, await make_user(db, "moira", role="moderator"))
    for method, path, body in READS:
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        refused = await client.request(method, path, json=body, headers=headers)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
    assert await _actions(db) == []


@BOTH_DATABASES
async def test_users_search_filters_and_pages(client: httpx.AsyncClient, db: Database) -> None:
    admin = await make_user(db, "boss", role="admin")
    headers = await bearer(db, admin)
    for name in ("alice", "alina", "bob"):
        await make_user(db, name)
    found = await client.get(f"{API}/users", params={"q": "ALI"}, headers=headers)
    assert found.status_code == 200, found.text
    assert [u["username"] for u in found.json()["items"]] == ["alina", "alice"]
    by_mail = await client.get(f"{API}/users", params={"q": "bob@example"}, headers=headers)
    assert [u["username"] for u in by_mail.json()["items"]] == ["bob"]
    admins = await client.get(f"{API}/users", params={"role": "admin"}, headers=headers)
    assert [u["username"] for u in admins.json()["items"]] == ["boss"]
    first = await client.get(f"{API}/users", params={"limit": 2}, headers=headers)
    second = await client.get(
        f"{API}/users", params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=headers
    )
    names = [u["username"] for u in first.json()["items"] + second.json()["items"]]
    assert sorted(names) == ["alice", "alina", "bob", "boss"]
    assert second.json()["next_cursor"] is None
    for bad in ({"role": "king"}, {"is_active": "maybe"}, {"limit": 0}, {"q": ""}, {"x": "1"}):
        answer = await client.get(f"{API}/users", params=bad, headers=headers)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["error"]["code"] == "validation_error"
    broken = await client.get(
        f"{API}/users", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=headers
    )
    assert broken.status_code == 400


@BOTH_DATABASES
async def test_disable_ends_tokens_and_is_audited_enable_restores(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await make_user(db, "boss", role="admin")
    headers = await bearer(db, admin)
    alice = await make_user(db, "alice")
    alice_headers = await bearer(db, alice)
    assert (await client.get("/api/v1/credits", headers=alice_headers)).status_code == 200
    url = f"{API}/users/{alice.user_id}"
    body = {"is_active": False, "reason": "spam"}
    disabled = await client.patch(url, json=body, headers=headers)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["is_active"] is False
    assert (await client.get("/api/v1/credits", headers=alice_headers)).status_code == 401
    again = await client.patch(url, json=body, headers=headers)  # idempotent, audited once
    assert again.status_code == 200
    enabled = await client.patch(url, json={"is_active": True}, headers=headers)
    assert enabled.json()["is_active"] is True
    # The revoked token stays revoked; a fresh one works.
    assert (await client.get("/api/v1/credits", headers=alice_headers)).status_code == 401
    fresh = await bearer(db, alice)
    assert (await client.get("/api/v1/credits", headers=fresh)).status_code == 200
    assert await _actions(db, "user.") == [
        ("user.enable", str(alice.user_id), {"is_active": False}, {"is_active": True}),
        ("user.disable", str(alice.user_id), {"is_active": True}, {"is_active": False}),
    ]


@BOTH_DATABASES
async def test_user_patch_refusals(client: httpx.AsyncClient, db: Database) -> None:
    admin = await make_user(db, "boss", role="admin")
    headers = await bearer(db, admin)
    alice = await make_user(db, "alice")
    self_disable = await client.patch(
        f"{API}/users/{admin.user_id}", json={"is_active": False}, headers=headers
    )
    assert self_disable.status_code == 409, self_disable.text
    assert "your own account" in self_disable.json()["error"]["message"]
    missing = await client.patch(f"{API}/users/999999", json={"is_active": False}, headers=headers)
    assert missing.status_code == 404
    junk = await client.patch(f"{API}/users/abc", json={"is_active": False}, headers=headers)
    assert junk.status_code == 404
    for bad in ({}, {"is_active": "no"}, {"role": "king"}, {"is_active": False, "extra": 1}):
        answer = await client.patch(f"{API}/users/{alice.user_id}", json=bad, headers=headers)
        assert answer.status_code == 422, (bad, answer.text)
    # The only admin cannot demote themselves either (nobody could promote anyone again).
    last = await client.patch(
        f"{API}/users/{admin.user_id}", json={"role": "user"}, headers=headers
    )
    assert last.status_code == 409
    promoted = await client.patch(
        f"{API}/users/{alice.user_id}",
        json={"role": "moderator", "reason": "helps"},
        headers=headers,
    )
    assert promoted.json()["role"] == "moderator"
    assert await _actions(db) == [
        ("user.role", str(alice.user_id), {"role": "user"}, {"role": "moderator"})
    ]


@BOTH_DATABASES
async def test_credit_removal_below_zero_needs_force_and_stays_consistent(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await make_user(db, "boss", role="admin")
    headers = await bearer(db, admin)
    alice = await make_user(db, "alice")
    assert (await client.get("/api/v1/credits", headers=await bearer(db, alice))).status_code == 200
    url = f"{API}/credits/adjust"
    body = {"user_id": alice.user_id, "amount": -150, "memo": "chargeback"}
    refused = await client.post(url, json=body, headers=headers)
    assert refused.status_code == 402, refused.text
    assert "force" in refused.json()["error"]["message"]
    assert await wallet(db, alice.user_id) == (100, 0)
    not_bool = await client.post(url, json={**body, "force": "yes"}, headers=headers)
    assert not_bool.status_code == 422
    forced = await client.post(url, json={**body, "force": True}, headers=headers)
    assert forced.status_code == 200, forced.text
    assert forced.json()["entry"]["amount"] == -100
    assert forced.json()["balance"]["balance"] == 0
    await assert_books_balance(db, alice.user_id)
    empty = await client.post(url, json={**body, "force": True}, headers=headers)
    assert empty.status_code == 409
    assert await _actions(db, "credits.") == [
        (
            "credits.adjust",
            str(alice.user_id),
            {"balance": 100},
            {"balance": 0, "requested": -150, "applied": -100, "forced": True},
        )
    ]


@BOTH_DATABASES
async def test_site_settings_change_audited_and_close_signups(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = await bearer(db, await make_user(db, "boss", role="admin"))
    initial = await client.get(f"{API}/site", headers=headers)
    assert initial.json() == {
        "announcement": "",
        "signups_open": True,
        "pre_review_new_accounts": False,
        "max_concurrent_jobs_per_user": None,
    }
    changed = await client.patch(
        f"{API}/site",
        json={"signups_open": False, "announcement": "Maintenance at 6", "reason": "upgrade"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["signups_open"] is False
    public = await client.get("/api/v1/site")  # anyone, for the banner
    assert public.json() == {"announcement": "Maintenance at 6", "signups_open": False}
    signup = {"email": "new@example.com", "username": "newbie", "password": "a long passphrase 1"}
    closed = await client.post("/api/v1/auth/register", json=signup)
    assert closed.status_code == 403, closed.text
    for bad in (
        {},
        {"signups_open": "no"},
        {"announcement": None},
        {"max_concurrent_jobs_per_user": 0},
        {"announcement": "x" * 501},
        {"colour": "red"},
    ):
        answer = await client.patch(f"{API}/site", json=bad, headers=headers)
        assert answer.status_code == 422, (bad, answer.text)
    assert await _actions(db, "site.") == [
        (
            "site.update",
            "1",
            {"announcement": "", "signups_open": True},
            {"announcement": "Maintenance at 6", "signups_open": False},
        )
    ]
    reopened = await client.patch(f"{API}/site", json={"signups_open": True}, headers=headers)
    assert reopened.status_code == 200
    assert (await client.post("/api/v1/auth/register", json=signup)).status_code == 201


@BOTH_DATABASES
async def test_model_access_by_role_hides_and_refuses(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = await bearer(db, await make_user(db, "boss", role="admin"))
    user_headers = await bearer(db, await make_user(db, "alice"))
    models = (await client.get("/api/v1/models", headers=user_headers)).json()["items"]
    model = models[0]["id"]
    put = await client.put(f"{API}/models/{model}", json={"min_role": "moderator"}, headers=headers)
    assert put.status_code == 200, put.text
    assert {m["id"]: m["min_role"] for m in put.json()["items"]}[model] == "moderator"
    listed = (await client.get("/api/v1/models", headers=user_headers)).json()["items"]
    assert model not in [m["id"] for m in listed]
    job = {"kind": "text2img", "model": model, "prompt": "a lighthouse"}
    refused = await client.post("/api/v1/jobs", json=job, headers=user_headers)
    assert refused.status_code == 403, refused.text
    assert (await client.get("/api/v1/credits", headers=user_headers)).json()["reserved"] == 0
    assert (
        await client.put(f"{API}/models/nope", json={"min_role": None}, headers=headers)
    ).status_code == 404
    bad = await client.put(f"{API}/models/{model}", json={"min_role": "king"}, headers=headers)
    assert bad.status_code == 422
    back = await client.put(f"{API}/models/{model}", json={"min_role": None}, headers=headers)
    assert back.status_code == 200
    listed = (await client.get("/api/v1/models", headers=user_headers)).json()["items"]
    assert model in [m["id"] for m in listed]
    assert [a[:4] for a in await _actions(db, "model.")] == [
        ("model.access", model, {"min_role": "moderator"}, {"min_role": None}),
        ("model.access", model, {"min_role": None}, {"min_role": "moderator"}),
    ]


@BOTH_DATABASES
async def test_cancel_any_job_refunds_and_queue_pause_is_audited(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await make_user(db, "boss", role="admin")
    headers = await bearer(db, admin)
    alice = await make_user(db, "alice")
    alice_headers = await bearer(db, alice)
    paused = await client.post(f"{API}/queue/pause", headers=headers)
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    model = (await client.get("/api/v1/models", headers=alice_headers)).json()["items"][0]["id"]
    job = {"kind": "text2img", "model": model, "prompt": "a lighthouse"}
    made = await client.post("/api/v1/jobs", json=job, headers=alice_headers)
    assert made.status_code == 201, made.text
    job_id = made.json()["jobs"][0]["job_id"]
    assert (await wallet(db, alice.user_id))[1] > 0  # type: ignore[index]
    no_reason = await client.post(f"{API}/jobs/{job_id}/cancel", json={}, headers=headers)
    assert no_reason.status_code == 422
    missing = await client.post(f"{API}/jobs/nope/cancel", json={"reason": "x"}, headers=headers)
    assert missing.status_code == 404
    canceled = await client.post(
        f"{API}/jobs/{job_id}/cancel", json={"reason": "abuse"}, headers=headers
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["state"] == "canceled"
    assert await wallet(db, alice.user_id) == (100, 0)
    await assert_books_balance(db, alice.user_id)
    await client.post(f"{API}/queue/resume", headers=headers)
    assert [a[:2] for a in await _actions(db)] == [
        ("queue.resume", "1"),
        ("job.cancel", job_id),
        ("queue.pause", "1"),
    ]


@BOTH_DATABASES
async def test_rooms_list_and_close_any_room(client: httpx.AsyncClient, db: Database) -> None:
    headers = await bearer(db, await make_user(db, "boss", role="admin"))
    owner_headers = await bearer(db, await make_user(db, "olivia"))
    made = await client.post(
        "/api/v1/rooms", json={"title": "Private harbour"}, headers=owner_headers
    )
    assert made.status_code == 201, made.text
    slug = made.json()["slug"]
    listed = await client.get(f"{API}/rooms", params={"q": "harbour"}, headers=headers)
    assert [(r["slug"], r["state"], r["online"]) for r in listed.json()["items"]] == [
        (slug, "open", 0)
    ]
    assert (
        await client.get(f"{API}/rooms", params={"state": "gone"}, headers=headers)
    ).status_code == 422
    blank = await client.post(f"{API}/rooms/{slug}/close", json={"reason": " "}, headers=headers)
    assert blank.status_code == 422
    missing = await client.post(
        f"{API}/rooms/no-such-room/close", json={"reason": "x"}, headers=headers
    )
    assert missing.status_code == 404
    closed = await client.post(
        f"{API}/rooms/{slug}/close", json={"reason": "abuse"}, headers=headers
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    assert await _actions(db, "room.") == [
        ("room.close", slug, {"state": "open"}, {"state": "closed"})
    ]


@BOTH_DATABASES
async def test_audit_filters_cursor_and_csv(client: httpx.AsyncClient, db: Database) -> None:
    admin = await make_user(db, "boss", role="admin")
    headers = await bearer(db, admin)
    async with db.unit_of_work() as session:
        for n, action in enumerate(["user.disable", "user.role", "room.close", "user.enable"]):
            await audit.record(
                session,
                actor_id=admin.user_id,
                action=action,
                target_type="user",
                target_id=n,
                after={"n": n},
                reason='=HYPERLINK("x")' if n == 0 else None,
            )
    page = await client.get(f"{API}/audit", params={"action": "user.", "limit": 2}, headers=headers)
    assert page.status_code == 200, page.text
    assert [e["action"] for e in page.json()["items"]] == ["user.enable", "user.role"]
    rest = await client.get(
        f"{API}/audit",
        params={"action": "user.", "cursor": page.json()["next_cursor"]},
        headers=headers,
    )
    assert [e["action"] for e in rest.json()["items"]] == ["user.disable"]
    by_target = await client.get(
        f"{API}/audit", params={"target_type": "user", "target_id": "2"}, headers=headers
    )
    assert [e["action"] for e in by_target.json()["items"]] == ["room.close"]
    future = await client.get(
        f"{API}/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=headers
    )
    assert future.json()["items"] == []
    for bad in (
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"actor": "me"},
        {"action": "DROP TABLE"},
        {"limit": 1000},
    ):
        answer = await client.get(f"{API}/audit", params=bad, headers=headers)
        assert answer.status_code == 422, (bad, answer.text)
        csv_answer = await client.get(f"{API}/audit.csv", params=bad, headers=headers)
        assert csv_answer.status_code == 422, (bad, csv_answer.text)
    assert (
        await client.get(f"{API}/audit", params={"cursor": "abc"}, headers=headers)
    ).status_code == 400
    exported = await client.get(f"{API}/audit.csv", params={"action": "user."}, headers=headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["action"] for r in rows] == ["user.enable", "user.role", "user.disable"]
    assert rows[2]["reason"] == '\'=HYPERLINK("x")'  # never a formula in a spreadsheet
    assert rows[0]["after"] == '{"n": 3}'


@pytest.mark.parametrize("path", ["/admin", "/admin/users", "/admin/audit", "/admin/site"])
async def test_admin_pages_send_visitors_to_sign_in(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path, headers={"accept": "text/html"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next={path}"


@BOTH_DATABASES
async def test_the_announcement_is_a_banner_on_every_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = await bearer(db, await make_user(db, "boss", role="admin"))
    assert 'id="announcement"' not in (await client.get("/")).text
    text = "Maintenance at 6 <script>alert(1)</script>"
    changed = await client.patch(f"{API}/site", json={"announcement": text}, headers=headers)
    assert changed.status_code == 200, changed.text
    for path in ("/", "/feed", "/forum"):
        page = (await client.get(path)).text
        assert "Maintenance at 6 &lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert "<script>alert(1)" not in page
