"""The database pool under load: no request holds a connection while it waits for another
(issue #8: room jobs hung every request for the pool timeout, then answered 500).

``tests/pool_guard.py`` fails any test in which a task takes a second connection; these tests show
the consequence on a real pool: one connection is enough for every room read, and a hundred room
jobs at once only queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from hub.collab.component import get_rooms
from hub.context import HubContext
from hub.settings import Settings
from rooms.room import PROMPT, insert_text, new_document
from rooms.store import UpdateRecord
from tests.conftest import TEST_ORIGIN
from tests.databases import truncate_postgres
from tests.helpers import BOTH_DATABASES
from tests.hub.collab.conftest import TestUser, room_with_roles

pytestmark = BOTH_DATABASES
API = "/api/v1"


async def _hub(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    from hub.app import create_app

    application: Starlette = create_app(settings.model_copy(update=overrides))
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(
                transport=transport, base_url=TEST_ORIGIN, headers={"origin": TEST_ORIGIN}
            ) as client:
                client.app = application  # type: ignore[attr-defined]
                yield client
    finally:
        await truncate_postgres(settings)


@pytest.fixture
async def one_connection(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A hub whose pool has exactly one connection: a nested acquisition waits for itself."""
    async for client in _hub(settings, db_pool_size=1, db_max_overflow=0, db_pool_timeout=3):
        yield client


@pytest.fixture
async def busy(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The default pool, a pool timeout short enough for a test, no generation rate limit."""
    async for client in _hub(settings, db_pool_timeout=20, rate_limit_generate="10000/minute"):
        yield client


def _ctx(client: httpx.AsyncClient) -> HubContext:
    ctx: HubContext = client.app.state.ctx  # type: ignore[attr-defined]
    return ctx


async def _room_with_prompt(client: httpx.AsyncClient, prompt: str) -> tuple[str, list[TestUser]]:
    """A room with an owner, an editor and a viewer whose stored document has ``prompt``; no
    socket is open, so the room is not loaded in this process (the common case when scaled)."""
    ctx = _ctx(client)
    slug, owner, editor, viewer = await room_with_roles(client, ctx)
    doc = new_document()
    insert_text(doc.get(PROMPT, type=type(doc[PROMPT])), 0, prompt)
    rooms = get_rooms(ctx)
    assert await rooms.store.append_updates(
        slug, [UpdateRecord(doc.get_update())], writer="test", batch=1
    )
    assert not rooms.server.is_loaded(slug)
    return slug, [owner, editor, viewer]


async def test_room_reads_and_jobs_need_one_connection_each(
    one_connection: httpx.AsyncClient,
) -> None:
    client = one_connection
    slug, (_owner, editor, viewer) = await _room_with_prompt(client, "a lighthouse at dusk")
    room = f"{API}/rooms/{slug}"

    started = time.monotonic()
    job = await client.post(f"{room}/jobs", json={}, headers=editor.headers)
    assert job.status_code == 201, job.text
    assert job.json()["jobs"][0]["prompt"] == "a lighthouse at dusk"
    document = await client.get(f"{room}/document", headers=viewer.headers)
    assert document.status_code == 200, document.text
    assert document.json()["source"] == "store"
    assert document.json()["prompt"] == "a lighthouse at dusk"
    for path in ("chat", "history"):
        page = await client.get(f"{room}/{path}", headers=viewer.headers)
        assert page.status_code == 200, page.text
    # The viewer sees the editor's prompt in the queue because it may see the room.
    queue = await client.get(f"{API}/queue", headers=viewer.headers)
    assert queue.status_code == 200, queue.text
    assert [item["prompt"] for item in queue.json()["items"]] == ["a lighthouse at dusk"]
    # Each of these would have waited out the 3 s pool timeout for its own second connection.
    assert time.monotonic() - started < 3


async def test_a_hundred_room_jobs_at_once_only_queue(busy: httpx.AsyncClient) -> None:
    client = busy
    slug, (owner, editor, _viewer) = await _room_with_prompt(client, "a red fox in the snow")
    url = f"{API}/rooms/{slug}/jobs"

    async def press(user: TestUser) -> int:
        response = await client.post(url, json={}, headers=user.headers)
        return response.status_code

    started = time.monotonic()
    jobs = asyncio.gather(*(press(owner if i % 2 else editor) for i in range(100)))
    await asyncio.sleep(0)  # every request is on its way before /me asks
    me_started = time.monotonic()
    me = await client.get(f"{API}/me", headers=owner.headers)
    me_took = time.monotonic() - me_started
    statuses = await jobs
    took = time.monotonic() - started

    assert me.status_code == 200, me.text
    assert set(statuses) <= {201, 402, 429}, sorted(statuses)
    assert 201 in statuses
    # Before the fix the pool deadlocked: every request waited out the pool timeout (20 s here)
    # and failed. Now they only queue for the connections: a few seconds on a busy 2-core
    # machine, and /me waits its turn among them.
    assert me_took < 8, f"GET /me took {me_took:.1f} s"
    assert took < 15, f"100 room jobs took {took:.1f} s"
