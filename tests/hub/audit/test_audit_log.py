"""The audit log: a credit adjustment is recorded once with before/after, and the table refuses
UPDATE and DELETE on both databases (the migration's triggers)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hub.audit import service as audit
from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.fixtures import db, fast_settings
from tests.hub.credits.helpers import bearer, make_user

__all__ = ["db", "fast_settings"]


@BOTH_DATABASES
async def test_credit_adjustment_is_audited_once(client: httpx.AsyncClient, db: Database) -> None:
    admin = await make_user(db, "boss", role="admin")
    alice = await make_user(db, "alice")
    body = {
        "user_id": alice.user_id,
        "amount": 7,
        "memo": "contest prize",
        "idempotency_key": "prize-0001",
    }
    headers = await bearer(db, admin)
    for _ in range(2):  # the retry is a no-op for the ledger, so for the log too
        response = await client.post("/api/v1/admin/credits/adjust", json=body, headers=headers)
        assert response.status_code == 200, response.text
    async with db.unit_of_work() as session:
        rows = await audit.entries(session, action="credits.")
    assert [(r.actor_id, r.action, r.target_type, r.target_id) for r in rows] == [
        (admin.user_id, "credits.adjust", "user", str(alice.user_id))
    ]
    assert (rows[0].before, rows[0].after, rows[0].reason) == (
        {"balance": 100},
        {"balance": 107},
        "contest prize",
    )


@BOTH_DATABASES
@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET reason = 'rewritten'", "DELETE FROM audit_log"],
)
async def test_the_log_is_append_only(
    client: httpx.AsyncClient, db: Database, statement: str
) -> None:
    async with db.unit_of_work() as session:
        await audit.record(
            session, actor_id=None, action="site.update", target_type="site", target_id="1"
        )
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.unit_of_work() as session:
            await session.execute(text(statement))
    async with db.unit_of_work() as session:
        rows = await audit.entries(session)
    assert [(r.action, r.reason) for r in rows] == [("site.update", None)]


@BOTH_DATABASES
async def test_filters_and_cursor(client: httpx.AsyncClient, db: Database) -> None:
    async with db.unit_of_work() as session:
        for n, action in enumerate(["user.disable", "user.role", "room.close", "user.enable"]):
            await audit.record(session, actor_id=n, action=action, target_type="user", target_id=n)
    async with db.unit_of_work() as session:
        users = await audit.entries(session, action="user.", limit=2)
        assert [r.action for r in users] == ["user.enable", "user.role"]
        rest = await audit.entries(session, action="user.", before_id=users[-1].audit_id)
        assert [r.action for r in rest] == ["user.disable"]
        assert [r.action for r in await audit.entries(session, actor_id=2)] == ["room.close"]
        with pytest.raises(ValueError, match="audit action"):
            await audit.record(session, actor_id=1, action="", target_type="x", target_id=1)
