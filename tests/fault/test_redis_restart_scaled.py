"""Fault test: Redis restarts while jobs run and a room is live, in the scaled topology.

``test_rooms_redis_outage.py`` and ``test_scaled_mode_faults.py`` prove that edits and chat made
on two web processes during a Redis outage reach everyone afterwards. This one adds what runs
beside them: two ``hub serve`` processes behind nginx and a separate ``hub worker``, whose job
progress reaches the rooms only through Redis. Two room jobs run, two editors are on different
processes and a third socket follows the room's event stream when the private redis-server is
stopped for three seconds (everything in it is lost) and started again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.db import Database
from hub.settings import Settings
from scale.topology import Running
from tests.fault.helpers import room_with_two_editors
from tests.fault.redis_server import RedisServer
from tests.helpers import eventually
from tests.rooms.ykit import EventClient, YClient
from tests.scale.books import settled_once
from tests.scale.clients import Reconnecting
from tests.scale.topology import Landings, scaled_hub

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

# Long enough that both jobs are still running when Redis is back (about 8 s each).
JOB = {"prompt": "a lighthouse", "model": "offline-sketch", "width": 64, "height": 64, "steps": 80}


@pytest.fixture
async def db(pg_database_url: str) -> AsyncIterator[Database]:
    database = Database(Settings(database_url=pg_database_url, auto_migrate=False))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def hub(
    pg_database_url: str, redis_server: RedisServer, tmp_path: Path
) -> AsyncIterator[Running]:
    env = {"HUB_OFFLINE_STEP_DELAY": "0.1"}
    async with scaled_hub(
        tmp_path, pg_database_url, redis_server.url, web=2, workers=1, env=env
    ) as running:
        yield running


def _progress(events: EventClient, job_id: str, since: int = 0) -> list[int]:
    return [
        m["data"]["step"]
        for m in events.messages[since:]
        if m.get("type") == "job.progress" and m["data"].get("job_id") == job_id
    ]


def _ended(events: EventClient, job_id: str) -> bool:
    return any(
        m.get("type") == "job.succeeded" and m["data"].get("job_id") == job_id
        for m in events.messages
    )


async def _start_jobs(hub: Running, slug: str, token: str) -> list[dict[str, Any]]:
    auth = {"authorization": f"Bearer {token}"}
    jobs = []
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as http:
        for _ in range(2):
            answer = await http.post(f"/api/v1/rooms/{slug}/jobs", json=JOB, headers=auth)
            assert answer.status_code == 201, answer.text
            jobs.append(answer.json()["jobs"][0])
    return jobs


async def _editors(hub: Running, slug: str, tokens: list[str]) -> list[Reconnecting]:
    landings = Landings(hub)
    url = hub.url.replace("http://", "ws://") + f"/yjs/{slug}?token="
    editors = [
        Reconnecting(YClient(url + token, name=name), landings, name)
        for name, token in zip(("olivia", "edward"), tokens, strict=True)
    ]
    for editor in editors:
        await editor.start()
    assert editors[0].landed != editors[1].landed, "both editors on one process"
    return editors


async def test_progress_resumes_and_nothing_is_charged_twice_after_a_redis_restart(
    hub: Running, redis_server: RedisServer, db: Database
) -> None:
    """Proves: after Redis is stopped for 3 s and restarted empty, the worker's progress for
    both running jobs reaches the room's event stream again (steps after the restart beyond
    those before it) and both jobs' ``job.succeeded`` arrive; the edits each editor made
    during the outage, on different processes, reach both; each job is charged once and the
    wallet equals its ledger. Bound: about 35 s (three process starts, two 8 s jobs)."""
    slug, owner_token, editor_token = await room_with_two_editors(db, title="restart")
    editors = await _editors(hub, slug, [owner_token, editor_token])
    ws_base = hub.url.replace("http://", "ws://")
    events = await EventClient.open(f"{ws_base}/rooms/{slug}/events?token={owner_token}")
    try:
        await events.wait_for("welcome")
        jobs = await _start_jobs(hub, slug, owner_token)
        ids = [job["job_id"] for job in jobs]
        await eventually(lambda: all(_progress(events, j) for j in ids), 20, 0.05, "progress")

        await redis_server.astop()
        editors[0].client.insert(0, "一只猫 ")
        editors[1].client.insert(len(editors[1].text), " 雨中")
        before = {j: max(_progress(events, j)) for j in ids}
        await asyncio.sleep(3)  # the outage itself
        await redis_server.astart()
        mark = len(events.messages)

        def resumed() -> bool:
            return all(any(s > before[j] for s in _progress(events, j, mark)) for j in ids)

        await eventually(resumed, timeout=15, interval=0.1, message="progress resumed")
        await eventually(lambda: all(_ended(events, j) for j in ids), 20, 0.1, "jobs ended")

        def healed() -> bool:
            a, b = (editor.text for editor in editors)
            return a == b and "一只猫" in a and "雨中" in a

        await eventually(healed, timeout=20, interval=0.1, message="edits healed")
    finally:
        await events.close()
        for editor in editors:
            with contextlib.suppress(Exception):
                await editor.stop()
    (owner,) = {job["user_id"] for job in jobs}
    settled = await settled_once(db, [owner])
    assert {job.state for job in settled} == {"succeeded"}
