"""Graceful shutdown with real processes: SIGTERM to ``hub worker`` hands its running job back at
once (a second worker finishes it long before the lease would have expired), and SIGTERM to
``hub serve`` closes an open room socket (and notification stream) with 1001 and a reconnect
hint."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest
import websockets

from hub.db import Database
from hub.settings import Settings
from tests.helpers import BOTH_DATABASES, eventually, free_port
from tests.hub.credits.fixtures import db, fast_settings
from tests.hub.credits.helpers import assert_books_balance, bearer, make_user, wallet
from tests.hub.generation.helpers import load, submit
from tests.processes import SERVE_ENV, HubProcess, hub_env
from tests.rooms.ykit import YClient

__all__ = ["db", "fast_settings"]

# Long, so that "well before the lease would expire" holds even on a loaded machine.
LEASE_SECONDS = 120.0


def start_worker(
    settings: Settings, tmp_path: Path, name: str, metrics_port: int = 0
) -> HubProcess:
    env = hub_env(
        settings.effective_database_url,
        tmp_path,
        HUB_OFFLINE_STEP_DELAY="0.1",
        HUB_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
        HUB_JOB_POLL_INTERVAL="0.05",
        HUB_JOB_CANCEL_GRACE_SECONDS="1",
        HUB_WORKER_CONCURRENCY="1",
        HUB_LOG_LEVEL="INFO",
        HUB_WORKER_METRICS_PORT=str(metrics_port),
    )
    return HubProcess.worker(env, tmp_path / f"{name}.log")


@pytest.mark.slow
@BOTH_DATABASES
async def test_sigterm_hands_the_running_job_back_at_once(db: Database, tmp_path: Path) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice, model="offline-paint", steps=30, width=64, height=64)
    first = start_worker(db.settings, tmp_path, "first")
    second: HubProcess | None = None
    try:

        async def mid_job() -> bool:
            current = await load(db, job.job_id)
            return current.state == "running" and 0 < current.step < current.total_steps

        await eventually(mid_job, 30, interval=0.05, message="first worker mid-job")
        signalled = time.monotonic()
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(timeout=15) == 0, (tmp_path / "first.log").read_text()
        handed_back = await load(db, job.job_id)
        assert handed_back.state == "queued", (tmp_path / "first.log").read_text()
        assert handed_back.locked_by is None
        assert handed_back.attempts == 0  # a hand-back is not an attempt

        port = free_port()
        second = start_worker(db.settings, tmp_path, "second", metrics_port=port)

        async def finished() -> bool:
            return (await load(db, job.job_id)).state in ("succeeded", "failed")

        await eventually(finished, LEASE_SECONDS / 2, interval=0.1, message="second worker done")
        took = time.monotonic() - signalled
        done = await load(db, job.job_id)
        assert done.state == "succeeded", (tmp_path / "second.log").read_text()
        assert f":{second.process.pid}:" not in (handed_back.locked_by or "")
        assert took < LEASE_SECONDS / 2, f"took {took:.1f}s: the job waited for its lease"
        # The worker's own /metrics (HUB_WORKER_METRICS_PORT) counted the job it ran.
        async with httpx.AsyncClient() as client:
            scraped = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert (
            'hub_job_duration_seconds_count{outcome="succeeded",provider="offline"} 1.0' in scraped
        )
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
    assert await wallet(db, alice.user_id) == (100 - job.cost, 0)
    await assert_books_balance(db, alice.user_id)


@pytest.mark.slow
async def test_sigterm_closes_room_sockets_with_1001_and_a_retry_hint(
    db: Database, tmp_path: Path
) -> None:
    owner = await make_user(db, "carol")
    headers = await bearer(db, owner)
    env = hub_env(db.settings.effective_database_url, tmp_path, **SERVE_ENV)
    hub = HubProcess.serve(env, tmp_path / "serve.log")
    peer: YClient | None = None
    try:
        await hub.wait_ready()
        async with httpx.AsyncClient(base_url=hub.http_url, timeout=10) as client:
            created = await client.post("/api/v1/rooms", json={"title": "A room"}, headers=headers)
            assert created.status_code == 201, created.text
        slug = created.json()["slug"]
        token = headers["Authorization"].removeprefix("Bearer ")
        peer = YClient(f"{hub.ws_url}/yjs/{slug}?token={token}", name="carol")
        await peer.connect()
        await peer.wait_synced()
        bell = await websockets.connect(f"{hub.ws_url}/api/v1/notifications/live?token={token}")
        await asyncio.wait_for(bell.recv(), 10)  # the unread count: the stream is live
        hub.process.send_signal(signal.SIGTERM)
        assert await peer.wait_closed(timeout=10) == 1001
        assert peer.ws is not None
        assert "reconnect" in (peer.ws.close_reason or "")
        await asyncio.wait_for(bell.wait_closed(), 10)
        assert bell.close_code == 1001
        # uvicorn re-raises the signal it caught once its shutdown is done.
        assert hub.process.wait(timeout=15) in (0, -signal.SIGTERM), hub.log.read_text()
        assert "Traceback" not in hub.log.read_text()
    finally:
        if peer is not None:
            await peer.close()
        hub.stop()
