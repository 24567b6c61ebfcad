"""VIP first: members' jobs are claimed before others' and may run more at once (the claim's
order and caps, on SQLite and Postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from hub.db import Database
from hub.settings import Settings
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import FAST, bearer, make_user
from tests.hub.generation.helpers import claim, submit


@pytest.fixture
async def capped(settings: Settings, app: Starlette) -> AsyncIterator[Database]:
    """One running job per user, two per member (``app`` empties Postgres afterwards)."""
    database = Database(
        settings.model_copy(
            update={**FAST, "jobs_per_user_running": 1, "membership_jobs_running": 2}
        )
    )
    try:
        yield database
    finally:
        await database.dispose()


@BOTH_DATABASES
async def test_members_jobs_are_claimed_first_and_run_more_at_once(
    client: httpx.AsyncClient, capped: Database
) -> None:
    bob = await make_user(capped, "bob")
    ada = await make_user(capped, "ada")
    headers = await bearer(capped, ada)
    started = await client.post(
        "/api/v1/payments/checkout", json={"item": "membership"}, headers=headers
    )
    payment_id = started.json()["payment_id"]
    confirmed = await client.post(f"/payments/offline/{payment_id}/confirm", headers=headers)
    assert confirmed.status_code == 303
    bobs = await submit(capped, bob, times=2)  # queued first
    adas = await submit(capped, ada, times=3)
    assert {(job.priority, job.running_cap) for job in bobs} == {(0, None)}
    assert {(job.priority, job.running_cap) for job in adas} == {(10, 2)}
    claimed = await claim(capped, limit=10)
    assert [job.job_id for job in claimed] == [adas[0].job_id, adas[1].job_id, bobs[0].job_id]
    assert await claim(capped, limit=10) == []
