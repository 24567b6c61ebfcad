"""Kill ``hub worker`` with SIGKILL in the middle of a job: a second worker takes the job over once
the lease expires and finishes it; the credits are charged exactly once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from hub.db import Database
from hub.settings import Settings
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.credits.fixtures import db, fast_settings
from tests.hub.credits.helpers import assert_books_balance, make_user, wallet
from tests.hub.generation.helpers import load, submit
from tests.processes import HubProcess, hub_env

__all__ = ["db", "fast_settings"]


def start_worker(settings: Settings, tmp_path: Path, name: str) -> HubProcess:
    env = hub_env(
        settings.effective_database_url,
        tmp_path,
        HUB_OFFLINE_STEP_DELAY="0.1",
        HUB_JOB_LEASE_SECONDS="1.5",
        HUB_JOB_POLL_INTERVAL="0.05",
        HUB_JOB_RETRY_BASE_SECONDS="0.1",
        HUB_WORKER_CONCURRENCY="1",
        HUB_LOG_LEVEL="INFO",
    )
    return HubProcess.worker(env, tmp_path / f"{name}.log")


@pytest.mark.slow
@BOTH_DATABASES
async def test_sigkilled_worker_job_is_taken_over_and_charged_once(
    db: Database, tmp_path: Path
) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice, model="offline-paint", steps=30, width=64, height=64)
    cost = job.cost
    first = start_worker(db.settings, tmp_path, "first")
    second: HubProcess | None = None
    try:

        async def mid_job() -> bool:
            current = await load(db, job.job_id)
            return current.state == "running" and 0 < current.step < current.total_steps

        await eventually(mid_job, 30, interval=0.05, message="first worker mid-job")
        first.process.send_signal(signal.SIGKILL)
        assert first.process.wait(timeout=10) == -signal.SIGKILL
        orphaned = await load(db, job.job_id)
        assert orphaned.state == "running"
        assert f":{first.process.pid}:" in (orphaned.locked_by or "")

        second = start_worker(db.settings, tmp_path, "second")

        async def finished() -> bool:
            return (await load(db, job.job_id)).state in ("succeeded", "failed")

        await eventually(finished, 60, interval=0.1, message="second worker finished the job")
        done = await load(db, job.job_id)
        assert done.state == "succeeded", (tmp_path / "second.log").read_text()
        assert done.attempts == 2
        assert done.error_code is None
        (image,) = (done.result or {})["images"]
        assert (tmp_path / "media" / image["key"]).is_file()
        # Graceful stop on SIGTERM: exit code 0.
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(timeout=30) == 0
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
    assert await wallet(db, alice.user_id) == (100 - cost, 0)
    await assert_books_balance(db, alice.user_id)
