"""Fault test: the S3 store goes away while jobs run in the scaled topology.

A web process behind nginx and a ``hub worker`` reach moto (S3 in server mode) through a TCP proxy
that can refuse every connection, as a store that is down does. A job that is running when the
store goes away cannot store its image; the worker fails that attempt as a retryable
``storage_unavailable`` and retries with backoff. What must hold is in each test's docstring.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hub.db import Database
from hub.generation.models import Job
from hub.settings import Settings
from scale.plan import free_port
from scale.topology import Running
from tests.fault.redis_server import RedisServer
from tests.fault.tcp_proxy import TcpProxy
from tests.helpers import eventually
from tests.hub.credits.helpers import bearer, make_user, wallet
from tests.hub.generation.helpers import load
from tests.scale.books import settled_once
from tests.scale.topology import scaled_hub

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ATTEMPTS = 3
JOB = {"model": "offline-sketch", "prompt": "a harbour", "width": 64, "height": 64, "steps": 10}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def db(pg_database_url: str) -> AsyncIterator[Database]:
    database = Database(Settings(database_url=pg_database_url, auto_migrate=False))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def s3_link() -> AsyncIterator[TcpProxy]:
    """Forwards to the port moto will listen on (the topology starts it there)."""
    link = TcpProxy("127.0.0.1", free_port())
    await link.start()
    try:
        yield link
    finally:
        await link.close()


@pytest.fixture
async def hub(
    pg_database_url: str, s3_link: TcpProxy, redis_server: RedisServer, tmp_path: Path
) -> AsyncIterator[Running]:
    env = {
        "HUB_JOB_MAX_ATTEMPTS": str(ATTEMPTS),
        "HUB_JOB_RETRY_BASE_SECONDS": "0.5",
        "HUB_JOB_RETRY_MAX_SECONDS": "1",
    }
    async with scaled_hub(
        tmp_path,
        pg_database_url,
        redis_server.url,
        web=1,
        workers=1,
        env=env,
        moto_port=s3_link.target_port,
        s3_endpoint_url=s3_link.url("http", ""),
    ) as running:
        yield running


async def _submit(http: httpx.AsyncClient, auth: dict[str, str]) -> str:
    response = await http.post("/api/v1/jobs", json=JOB, headers=auth)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobs"][0]["job_id"]
    return job_id


async def _state(db: Database, job_id: str, *states: str) -> Job | None:
    job = await load(db, job_id)
    return job if job.state in states else None


async def _retry_pending(db: Database, job_id: str) -> Job | None:
    job = await load(db, job_id)
    waiting = job.state == "queued" and job.attempts >= 1
    return job if waiting and job.error_code == "storage_unavailable" else None


async def test_jobs_fail_or_retry_cleanly_while_s3_is_down(
    hub: Running, s3_link: TcpProxy, db: Database
) -> None:
    """Proves: a job running when S3 goes away, with S3 down for all its attempts, ends
    ``failed`` with ``storage_unavailable`` after ``ATTEMPTS`` attempts and its credits are
    refunded; a job whose first attempt meets the outage is retried and, once S3 is back,
    succeeds on a later attempt, charged once, its image stored once and downloadable through
    nginx; the ledger explains the wallet. Bound: about 35 s (three process starts, five
    attempts of about 4 s each: botocore retries every refused request before giving up)."""
    ada = await make_user(db, "ada")
    auth = await bearer(db, ada)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as http:
        doomed = await _submit(http, auth)
        await eventually(lambda: _state(db, doomed, "running"), 20, 0.02, "the job runs")
        s3_link.refuse()
        failed = await eventually(lambda: _state(db, doomed, "failed"), 30, 0.1, "it fails")
        assert (failed.error_code, failed.attempts) == ("storage_unavailable", ATTEMPTS)
        assert await wallet(db, ada.user_id) == (100, 0)

        retried = await _submit(http, auth)
        await eventually(lambda: _retry_pending(db, retried), 20, 0.02, "a retry is pending")
        s3_link.restore()
        done = await eventually(lambda: _state(db, retried, "succeeded"), 20, 0.1, "succeeds")
        assert done.attempts >= 2
        await _check_download(http, auth, done)
    await settled_once(db, [ada.user_id])
    assert await wallet(db, ada.user_id) == (100 - done.cost, 0)


async def _check_download(http: httpx.AsyncClient, auth: dict[str, str], job: Job) -> None:
    (image,) = (job.result or {})["images"]
    download = await http.get(f"/api/v1/images/{image['image_id']}/download", headers=auth)
    assert download.status_code == 200, download.text
    assert download.content.startswith(PNG)
