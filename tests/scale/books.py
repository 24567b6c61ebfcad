"""What must hold for jobs and credits after any fault, read straight from the database.

``settled_once`` is the fault tests' one verdict on the queue and the ledger: every job was
reserved once and settled at most once in the way its state says, its live library images are
exactly the ones its result names (a retried or doubly-run job leaves no second copy), and every
wallet is explained by its ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel import col

from hub.credits.models import LedgerEntry
from hub.db import Database
from hub.generation.models import Job
from hub.storage.models import Image
from tests.hub.credits.helpers import assert_books_balance

TERMINAL = {"succeeded", "failed", "canceled"}


async def jobs_of(db: Database, user_ids: Iterable[int]) -> list[Job]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(select(Job).where(col(Job.user_id).in_(list(user_ids))))
        return list(rows)


async def _ledger(db: Database, user_ids: list[int]) -> Counter[tuple[str, str]]:
    """(job id, kind) of every job-related ledger row of ``user_ids``."""
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(
                col(LedgerEntry.user_id).in_(user_ids), col(LedgerEntry.job_id).is_not(None)
            )
        )
        return Counter((row.job_id or "", row.kind) for row in rows)


async def _live_images(db: Database, job_ids: list[str]) -> dict[str, set[str]]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(Image).where(col(Image.job_id).in_(job_ids), col(Image.deleted_at).is_(None))
        )
        live: dict[str, set[str]] = {}
        for image in rows:
            live.setdefault(image.job_id, set()).add(image.image_id)
        return live


def _result_images(job: Job) -> set[str]:
    return {str(image["image_id"]) for image in (job.result or {}).get("images", [])}


async def settled_once(db: Database, user_ids: Iterable[int]) -> list[Job]:
    """Asserts the invariants above for every job of ``user_ids`` and returns the jobs."""
    users = list(user_ids)
    jobs = await jobs_of(db, users)
    ids = [job.job_id for job in jobs]
    ledger = await _ledger(db, users)
    live = await _live_images(db, ids)
    problems = []
    for job in jobs:
        kinds = {kind: ledger[(job.job_id, kind)] for kind in ("reserve", "charge", "refund")}
        expected = {
            "succeeded": {"reserve": 1, "charge": 1, "refund": 0},
            "failed": {"reserve": 1, "charge": 0, "refund": 1},
            "canceled": {"reserve": 1, "charge": 0, "refund": 1},
        }.get(job.state, {"reserve": 1, "charge": 0, "refund": 0})
        if kinds != expected:
            problems.append(f"{job.job_id} {job.state}: ledger {kinds}, expected {expected}")
        if live.get(job.job_id, set()) != _result_images(job):
            problems.append(
                f"{job.job_id} {job.state}: live images {live.get(job.job_id)} but result "
                f"{_result_images(job)}"
            )
    orphans = {job_id for job_id, _ in ledger} - set(ids)
    assert not orphans, f"ledger rows of jobs that do not exist: {orphans}"
    assert problems == [], "\n".join(problems)
    for user_id in users:
        await assert_books_balance(db, user_id)
    return jobs
