"""The runner API: what a job runner gets and what it returns.

The worker owns the state machine, leases, retries and credits; the *runner* owns the pixels::

    JobRunner = Callable[[JobContext], Awaitable[JobResult]]

A runner reads ``ctx.job`` (a :class:`JobSpec`), reports ``await ctx.progress(step, total,
preview)``, stops when ``ctx.stop_requested`` (or ``ctx.raise_if_stopped()``), and returns the
stored images as :class:`~hub.generation.queue.ImageRef`\\ s. It fails a job by raising: an
exception with ``retryable = True`` (``ProviderError`` subclasses, :class:`JobError`) is retried
with exponential backoff while attempts are left, anything else fails the job and refunds it.
Implementations live in :mod:`hub.generation.runners`; :mod:`hub.generation.worker` runs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.generation.errors import JobInterrupted
from hub.generation.models import Job
from hub.generation.queue import ImageRef


@dataclass(frozen=True)
class JobSpec:
    """The immutable view of a claimed job that a runner gets."""

    job_id: str
    user_id: int
    owner_id: int
    room_id: str | None
    kind: str
    batch_id: str | None
    model: str
    prompt: str
    negative_prompt: str
    params: Mapping[str, Any]
    source_image_key: str | None
    attempt: int
    total_steps: int

    @classmethod
    def from_job(cls, job: Job) -> JobSpec:
        return cls(
            job_id=job.job_id,
            user_id=job.user_id,
            owner_id=job.owner_id,
            room_id=job.room_id,
            kind=job.kind,
            batch_id=job.batch_id,
            model=job.model,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            params=dict(job.params or {}),
            source_image_key=job.source_image_key,
            attempt=job.attempts,
            total_steps=job.total_steps,
        )


@dataclass(frozen=True)
class JobResult:
    images: Sequence[ImageRef] = ()


ProgressReport = Callable[[int, int, bytes | None], Awaitable[None]]


class JobContext:
    """Handed to the runner: the job, a progress reporter and the stop signal."""

    def __init__(self, job: JobSpec, *, report: ProgressReport, stop: asyncio.Event) -> None:
        self.job = job
        self._report = report
        self._stop = stop
        self.stop_reason: str | None = None  # "cancel", "shutdown" or "lost"

    async def progress(self, step: int, total: int, preview: bytes | None = None) -> None:
        total = max(1, int(total))
        step = min(max(0, int(step)), total)
        await self._report(step, total, preview)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    def raise_if_stopped(self) -> None:
        if self._stop.is_set():
            raise JobInterrupted(self.stop_reason or "stopped")


JobRunner = Callable[[JobContext], Awaitable[JobResult]]
