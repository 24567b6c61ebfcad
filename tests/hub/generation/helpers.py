"""Small real runners and helpers for the job tests (no mocks of the code under test)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hub.accounts.deps import Actor
from hub.db import Database
from hub.generation import queue, service
from hub.generation.errors import JobError
from hub.generation.models import Job
from hub.generation.queue import ImageRef, JobRef
from hub.generation.runner_api import JobContext, JobResult, JobRunner
from hub.generation.schemas import JobCreateIn


def job_request(prompt: str = "a red fox in the snow", **fields: Any) -> JobCreateIn:
    fields.setdefault("model", "offline-sketch")
    if fields.get("kind") == "batch":
        return JobCreateIn.model_validate(fields)
    return JobCreateIn.model_validate({"prompt": prompt, **fields})


async def submit(db: Database, actor: Actor, times: int = 1, **fields: Any) -> list[Job]:
    jobs: list[Job] = []
    for n in range(times):
        async with db.unit_of_work() as session:
            done = await service.submit_job(
                session, actor, request=job_request(f"prompt {n}", **fields)
            )
        jobs.extend(done.jobs)
    return jobs


async def load(db: Database, job_id: str) -> Job:
    async with db.unit_of_work() as session:
        job = await queue.get_job(session, job_id)
    assert job is not None
    return job


async def claim(db: Database, limit: int, worker_id: str = "w1") -> list[Job]:
    async with db.unit_of_work() as session:
        return await queue.claim_jobs(session, worker_id=worker_id, limit=limit)


@dataclass
class EventLog:
    """An event sink that remembers what it got."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, job: JobRef, kind: str, data: dict[str, Any]) -> None:
        self.events.append((job.job_id, kind, data))

    def kinds(self, job_id: str) -> list[str]:
        return [kind for jid, kind, _ in self.events if jid == job_id]

    def of(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(jid, data) for jid, k, data in self.events if k == kind]


def gated_runner(gate: asyncio.Event, started: list[str] | None = None) -> JobRunner:
    """Reports step 1 of 2, then waits for ``gate`` (or a stop request) before finishing."""

    async def run(ctx: JobContext) -> JobResult:
        if started is not None:
            started.append(ctx.job.job_id)
        await ctx.progress(1, 2)
        waiter = asyncio.create_task(gate.wait())
        stopper = asyncio.create_task(ctx.wait_stopped())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()
        ctx.raise_if_stopped()
        await ctx.progress(2, 2)
        return JobResult(images=[ImageRef(key=f"gated/{ctx.job.job_id}.png")])

    return run


def flaky_runner(failures: int, *, retryable: bool, code: str = "unavailable") -> JobRunner:
    """Fails the first ``failures`` attempts of every job, then succeeds."""

    async def run(ctx: JobContext) -> JobResult:
        await ctx.progress(1, 1)
        if ctx.job.attempt <= failures:
            raise JobError(f"attempt {ctx.job.attempt} failed", code=code, retryable=retryable)
        return JobResult(images=[ImageRef(key=f"flaky/{ctx.job.job_id}.png")])

    return run
