"""Credits through HTTP: balance, ledger paging, the admin adjustment and its bad inputs."""

from __future__ import annotations

import httpx
import pytest

from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import assert_books_balance, bearer, ledger_rows, make_user, wallet


@BOTH_DATABASES
async def test_balance_starts_with_the_signup_grant(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await make_user(db, "alice")
    response = await client.get("/api/v1/credits", headers=await bearer(db, alice))
    assert response.status_code == 200
    assert response.json() == {"user_id": alice.user_id, "balance": 100, "reserved": 0}


async def test_credits_need_authentication(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/credits", "/api/v1/credits/ledger"):
        response = await client.get(path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"


@BOTH_DATABASES
async def test_ledger_pages_with_cursor(client: httpx.AsyncClient, db: Database) -> None:
    admin = await make_user(db, "boss", role="admin")
    alice = await make_user(db, "alice")
    admin_headers = await bearer(db, admin)
    for n in range(4):
        body = {"user_id": alice.user_id, "amount": n + 1, "memo": f"gift {n}"}
        response = await client.post(
            "/api/v1/admin/credits/adjust", json=body, headers=admin_headers
        )
        assert response.status_code == 200, response.text
    headers = await bearer(db, alice)
    first = await client.get("/api/v1/credits/ledger?limit=3", headers=headers)
    assert first.status_code == 200
    page = first.json()
    assert [item["amount"] for item in page["items"]] == [4, 3, 2]
    assert page["next_cursor"]
    second = await client.get(
        "/api/v1/credits/ledger", params={"cursor": page["next_cursor"]}, headers=headers
    )
    rest = second.json()
    assert [(i["kind"], i["amount"]) for i in rest["items"]] == [("adjust", 1), ("grant", 100)]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    ["cursor=not-a-cursor", "limit=0", "limit=101", "limit=abc", "cursor=WyJ4Il0"],
)
async def test_ledger_rejects_bad_paging(
    client: httpx.AsyncClient, db: Database, query: str
) -> None:
    alice = await make_user(db, "alice")
    response = await client.get(f"/api/v1/credits/ledger?{query}", headers=await bearer(db, alice))
    assert response.status_code in (400, 422)
    assert response.json()["error"]["code"] in ("bad_request", "validation_error")


@BOTH_DATABASES
async def test_admin_adjust_is_idempotent_and_never_overdraws(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await make_user(db, "boss", role="admin")
    alice = await make_user(db, "alice")
    headers = await bearer(db, admin)
    body = {
        "user_id": alice.user_id,
        "amount": -30,
        "memo": "refund abuse",
        "idempotency_key": "case-0001",
    }
    first = await client.post("/api/v1/admin/credits/adjust", json=body, headers=headers)
    second = await client.post("/api/v1/admin/credits/adjust", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["entry"]["entry_id"] == second.json()["entry"]["entry_id"]
    assert first.json()["balance"]["balance"] == 70
    too_much = {"user_id": alice.user_id, "amount": -71, "memo": "oops"}
    response = await client.post("/api/v1/admin/credits/adjust", json=too_much, headers=headers)
    assert response.status_code == 402
    assert response.json()["error"] == {
        "code": "insufficient_credits",
        "message": "This would take the balance below zero (70 + -71); "
        'send "force": true with a reason to take what is there.',
        "details": {"balance": 70, "required": 71},
    }
    assert await wallet(db, alice.user_id) == (70, 0)
    await assert_books_balance(db, alice.user_id)


async def test_adjust_is_forbidden_for_users_and_404_for_unknown_users(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await make_user(db, "boss", role="admin")
    alice = await make_user(db, "alice")
    body = {"user_id": alice.user_id, "amount": 1000, "memo": "free money"}
    response = await client.post(
        "/api/v1/admin/credits/adjust", json=body, headers=await bearer(db, alice)
    )
    assert response.status_code == 403
    assert await wallet(db, alice.user_id) is None
    ghost = {"user_id": 424242, "amount": 5, "memo": "ghost"}
    response = await client.post(
        "/api/v1/admin/credits/adjust", json=ghost, headers=await bearer(db, admin)
    )
    assert response.status_code == 404


@BOTH_DATABASES
@pytest.mark.parametrize(
    "body",
    [
        {"amount": 5, "memo": "no user"},
        {"user_id": 1, "amount": 0, "memo": "zero"},
        {"user_id": 1, "amount": "5", "memo": "string amount"},
        {"user_id": 1, "amount": 5.5, "memo": "fraction"},
        {"user_id": 1, "amount": 10**12, "memo": "huge"},
        {"user_id": 1, "amount": 5},
        {"user_id": 1, "amount": 5, "memo": "   "},
        {"user_id": 1, "amount": 5, "memo": "x" * 501},
        {"user_id": 1, "amount": 5, "memo": "nul\x00"},
        {"user_id": 1, "amount": 5, "memo": "k", "idempotency_key": "bad key!"},
        {"user_id": 1, "amount": 5, "memo": "extra", "surprise": True},
    ],
)
async def test_adjust_rejects_bad_bodies(
    client: httpx.AsyncClient, db: Database, body: dict[str, object]
) -> None:
    admin = await make_user(db, "boss", role="admin")
    response = await client.post(
        "/api/v1/admin/credits/adjust", json=body, headers=await bearer(db, admin)
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert await ledger_rows(db, admin.user_id) == []


async def test_adjust_rejects_non_json(client: httpx.AsyncClient, db: Database) -> None:
    admin = await make_user(db, "boss", role="admin")
    headers = {**await bearer(db, admin), "content-type": "application/json"}
    response = await client.post("/api/v1/admin/credits/adjust", content=b"{nope", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    response = await client.post("/api/v1/admin/credits/adjust", content=b"[1]", headers=headers)
    assert response.status_code == 400
