"""Disabling an account through the admin API closes its room sockets on every process within a
second: two real ``hub serve`` processes on Postgres and the shared Redis, one socket of the user
on each, the PATCH sent to the first (docs/admin.md, "Disabling an account")."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hub.accounts.roles import UserRole
from hub.accounts.tokens import create_personal_token
from hub.accounts.users import create_user
from hub.db import Database
from rooms import close_codes
from tests.conftest import _base_settings
from tests.databases import truncate_postgres
from tests.fault.helpers import room_with_editors
from tests.fault.redis_server import require_shared_redis
from tests.processes import SERVE_ENV, HubProcess, hub_env
from tests.rooms.ykit import YClient

pytestmark = [pytest.mark.redis]

WITHIN = 1.0


@pytest.fixture
async def database(pg_database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    settings = _base_settings(tmp_path, database_url=pg_database_url)
    db = Database(settings)
    try:
        yield db
    finally:
        await db.dispose()
        await truncate_postgres(settings)


@pytest.fixture
async def hubs(database: Database, tmp_path: Path) -> AsyncIterator[list[HubProcess]]:
    env = hub_env(
        database.settings.effective_database_url,
        tmp_path,
        **SERVE_ENV,
        REDIS_URL=require_shared_redis(),
        HUB_REDIS_KEY_PREFIX=f"test-{uuid.uuid4().hex[:8]}:",
    )
    processes = [HubProcess.serve(env, tmp_path / f"hub-{i}.log") for i in range(2)]
    try:
        await asyncio.gather(*(p.wait_ready() for p in processes))
        yield processes
    finally:
        for process in processes:
            process.stop()


async def test_disabling_a_user_closes_their_sockets_on_both_processes(
    database: Database, hubs: list[HubProcess]
) -> None:
    slug, _owner, (victim_token,) = await room_with_editors(
        database, title="two processes", editors=["edward"]
    )
    async with database.unit_of_work() as session:
        admin = await create_user(
            session, email="a@example.test", username="adam", password=None, role=UserRole.ADMIN
        )
        _, admin_token = await create_personal_token(session, admin, name="t")
    sockets = []
    for n, hub in enumerate(hubs):
        client = YClient(f"{hub.ws_url}/yjs/{slug}?token={victim_token}", name=f"process-{n}")
        await client.connect()
        await client.wait_synced()
        sockets.append(client)
    async with httpx.AsyncClient(base_url=hubs[0].http_url) as api:
        headers = {"authorization": f"Bearer {admin_token}"}
        found = await api.get("/api/v1/admin/users", params={"q": "edward"}, headers=headers)
        (user,) = found.json()["items"]
        answer = await api.patch(
            f"/api/v1/admin/users/{user['user_id']}", json={"is_active": False}, headers=headers
        )
        started = time.monotonic()
        assert answer.status_code == 200, answer.text
    for client in sockets:
        left = max(0.01, started + WITHIN - time.monotonic())
        try:
            code = await client.wait_closed(timeout=left)
        except TimeoutError:
            pytest.fail(f"{client.name} still open {WITHIN} s after the account was disabled")
        assert code == close_codes.UNAUTHENTICATED
    # The token is dead on every process too.
    async with httpx.AsyncClient(base_url=hubs[1].http_url) as api:
        me = await api.get("/api/v1/me", headers={"authorization": f"Bearer {victim_token}"})
        assert me.status_code == 401
