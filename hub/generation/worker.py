"""The job worker: claims jobs, runs them through a runner, keeps their leases alive and settles
them (state + credits) in one transaction each.

The runner contract (:class:`~hub.generation.runner_api.JobContext` in,
:class:`~hub.generation.runner_api.JobResult` out, failures raised) is in
:mod:`hub.generation.runner_api`; the queue mechanics are in :mod:`hub.generation.queue`.

Events go to ``on_job_event(job_ref, type, data)`` after the transaction that caused them
commits: ``job.started {attempt}``, ``job.progress {step, total, eta_s, preview_url?}``,
``job.succeeded {images}``, ``job.failed {reason, code}``, ``job.canceled {}`` and
``job.queued {position, reason}`` when a job goes back to the queue (retry, lost worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import Database
from hub.generation import queue
from hub.generation.models import Job
from hub.generation.queue import JobRef, QueueSignals, Settled, job_ref
from hub.generation.runner_api import JobContext, JobResult, JobRunner, JobSpec
from hub.metrics import observe_job
from hub.settings import Settings

log = logging.getLogger(__name__)

JobEventSink = Callable[[JobRef, str, dict[str, Any]], Awaitable[None]]
PreviewSink = Callable[[JobRef, bytes], Awaitable[str | None]]
OrphanSink = Callable[[list[str]], Awaitable[None]]
MediaCleanup = Callable[[], Awaitable[object]]

# Progress goes to the event sink on every step but to the database at most this often.
PROGRESS_WRITE_INTERVAL = 1.0
CLEANUP_INTERVAL = 3600.0
SETTLE_RETRIES = 3


@dataclass
class _Running:
    job: Job
    lease: str
    ctx: JobContext
    stop: asyncio.Event
    started: float = field(default_factory=time.monotonic)
    last_write: float = 0.0
    task: asyncio.Task[None] | None = None

    def interrupt(self, reason: str) -> None:
        # The first reason wins: a job canceled by its owner stays a cancel during shutdown.
        if self.ctx.stop_reason is None:
            self.ctx.stop_reason = reason
        self.stop.set()


def _describe(error: BaseException) -> tuple[str, str, bool, float | None]:
    """(code, message for people, retryable, retry_after) of a runner failure."""
    from hub.generation.providers.base import InvalidRequest

    if isinstance(error, InvalidRequest):
        return "invalid_request", str(error), False, None
    retryable = getattr(error, "retryable", None)
    if retryable is None:
        log.error("job runner crashed", exc_info=error)
        return "internal_error", "The generation failed unexpectedly.", False, None
    code = str(getattr(error, "code", "") or "job_failed")
    message = str(getattr(error, "message", "") or error or "The generation failed.")
    retry_after = getattr(error, "retry_after", None)
    return (
        code,
        message,
        bool(retryable),
        retry_after if isinstance(retry_after, int | float) else None,
    )


def default_worker_id() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Runs up to ``concurrency`` jobs at once from the shared queue.

    ``stop()`` stops claiming, lets running jobs finish for ``job_cancel_grace_seconds``, then
    interrupts the rest and hands them back to the queue (not counted as an attempt).
    ``stop(release=False)`` drops everything without touching the database, as a crash would:
    the leases expire and another worker takes the jobs over.

    While it runs, the worker listens on ``signals`` (its own when none is given): pass the same
    :class:`~hub.generation.queue.QueueSignals` to the service calls of this process that
    enqueue or cancel, and it reacts at once instead of at its next poll.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        runner: JobRunner,
        on_job_event: JobEventSink | None = None,
        *,
        worker_id: str | None = None,
        concurrency: int | None = None,
        preview_sink: PreviewSink | None = None,
        on_orphan_keys: OrphanSink | None = None,
        cleanup_interval: float = CLEANUP_INTERVAL,
        media_cleanup: MediaCleanup | None = None,
        signals: QueueSignals | None = None,
        provider_of: Callable[[str], str] = str,
    ) -> None:
        self.db = db
        self.provider_of = provider_of  # model id -> provider name: the job-duration label
        self.settings = settings
        self.runner = runner
        self.on_job_event = on_job_event
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = max(1, concurrency or settings.worker_concurrency)
        self.preview_sink = preview_sink
        self.on_orphan_keys = on_orphan_keys
        self.cleanup_interval = cleanup_interval
        self.media_cleanup = media_cleanup
        self.signals = signals if signals is not None else QueueSignals()
        self._running: dict[str, _Running] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._abandon = False
        self._main: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def running_jobs(self) -> set[str]:
        return set(self._running)

    @property
    def started(self) -> bool:
        return self._main is not None and not self._main.done()

    async def start(self) -> None:
        if self._main is not None:
            raise RuntimeError("worker already started")
        self.signals.subscribe(self.wake, self._local_cancel)
        self._main = asyncio.create_task(self._loop(), name=f"worker:{self.worker_id}")
        self._beat = asyncio.create_task(self._heartbeat(), name=f"heartbeat:{self.worker_id}")
        log.info(
            "worker %s started (%d slots)",
            self.worker_id,
            self.concurrency,
            extra={"worker_id": self.worker_id, "slots": self.concurrency},
        )

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self, *, release: bool = True, grace: float | None = None) -> None:
        if self._main is None:
            return
        self.signals.unsubscribe(self.wake, self._local_cancel)
        self._stopping = True
        self._wakeup.set()
        if not release:
            self._abandon = True
            tasks = [t for t in (self._main, self._beat) if t is not None]
            tasks += [r.task for r in self._running.values() if r.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._running.clear()
            log.warning("worker dropped its jobs", extra={"worker_id": self.worker_id})
            return
        await asyncio.gather(self._main, return_exceptions=True)
        if grace is None:
            grace = self.settings.job_cancel_grace_seconds
        pending = [r.task for r in self._running.values() if r.task is not None]
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for running in list(self._running.values()):
                running.interrupt("shutdown")
            if still:
                # Each job task cuts its runner after the grace period and then releases it.
                await asyncio.wait(still, timeout=grace + 10.0)
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        log.info("worker stopped", extra={"worker_id": self.worker_id})

    # --- main loop -----------------------------------------------------------------------------

    async def _loop(self) -> None:
        poll = self.settings.job_poll_interval
        reap_every = max(poll, min(self.settings.job_lease_seconds / 2, 5.0))
        next_reap = 0.0
        next_cleanup = time.monotonic() + min(60.0, self.cleanup_interval)
        failures = 0
        while not self._stopping:
            self._wakeup.clear()
            delay = poll
            try:
                now = time.monotonic()
                if now >= next_reap:
                    next_reap = now + reap_every
                    await self._reap()
                free = self.concurrency - len(self._running)
                if free > 0:
                    for job in await self._claim(free):
                        self._spawn(job)
                if now >= next_cleanup:
                    next_cleanup = now + self.cleanup_interval
                    await self.cleanup()
                failures = 0
            except Exception:
                failures += 1
                delay = min(poll * 2**failures, 30.0)
                log.exception("worker loop failed; retrying", extra={"retry_in_s": delay})
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=delay)

    async def _claim(self, free: int) -> list[Job]:
        async with self.db.unit_of_work() as session:
            return await queue.claim_jobs(session, worker_id=self.worker_id, limit=free)

    async def _reap(self) -> None:
        async with self.db.unit_of_work() as session:
            settled = await queue.reap_expired(session)
        for item in settled:
            log.warning(
                "job %s: lease expired, %s",
                item.job.job_id,
                item.outcome,
                extra={"job_id": item.job.job_id, "outcome": item.outcome},
            )
            await self._announce(item)

    async def cleanup(self) -> int:
        """Delete old failed/canceled jobs and report their image keys; returns rows deleted."""
        deleted = 0
        older = timedelta(days=self.settings.job_retention_days)
        for _ in range(20):
            async with self.db.unit_of_work() as session:
                purged = await queue.purge_old_jobs(session, older_than=older)
            deleted += purged.deleted
            if purged.orphan_keys and self.on_orphan_keys is not None:
                await self._guard(self.on_orphan_keys(purged.orphan_keys), "orphan sink")
            if purged.deleted == 0:
                break
        if self.media_cleanup is not None:
            # Files of soft-deleted images and of saves that never committed (storage's sweep).
            await self._guard(self.media_cleanup(), "media cleanup")
        return deleted

    def _spawn(self, job: Job) -> None:
        if job.locked_by is None:  # pragma: no cover - claim_jobs always sets the lease
            raise RuntimeError(f"job {job.job_id} was claimed without a lease")
        stop = asyncio.Event()
        ref = job_ref(job)
        running: _Running

        async def report(step: int, total: int, preview: bytes | None) -> None:
            await self._progress(running, ref, step, total, preview)

        ctx = JobContext(JobSpec.from_job(job), report=report, stop=stop)
        running = _Running(job=job, lease=job.locked_by, ctx=ctx, stop=stop)
        self._running[job.job_id] = running
        running.task = asyncio.create_task(self._run(running), name=f"job:{job.job_id}")

        def done(_task: asyncio.Task[None]) -> None:
            if self._running.get(job.job_id) is running:
                del self._running[job.job_id]
            self._wakeup.set()

        running.task.add_done_callback(done)

    # --- one job -------------------------------------------------------------------------------

    async def _run(self, running: _Running) -> None:
        ref = job_ref(running.job)
        await self._emit(ref, "job.started", {"attempt": running.job.attempts})
        runner_task: asyncio.Future[JobResult] = asyncio.ensure_future(self.runner(running.ctx))
        stopped: asyncio.Future[Any] = asyncio.ensure_future(running.stop.wait())
        try:
            await asyncio.wait({runner_task, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not runner_task.done():
                # Stop requested: the runner gets a grace period to wind down, then is cut.
                grace = self.settings.job_cancel_grace_seconds
                await asyncio.wait({runner_task}, timeout=grace)
                if not runner_task.done():
                    runner_task.cancel()
                    await asyncio.gather(runner_task, return_exceptions=True)
        except asyncio.CancelledError:
            runner_task.cancel()
            await asyncio.gather(runner_task, return_exceptions=True)
            raise
        finally:
            stopped.cancel()
        result: JobResult | None = None
        error: BaseException | None = None
        try:
            result = runner_task.result()
        except asyncio.CancelledError as exc:
            error = exc
        except Exception as exc:
            error = exc
        if self._abandon:
            return
        await self._settle(running, result, error)

    async def _settle(
        self, running: _Running, result: JobResult | None, error: BaseException | None
    ) -> None:
        job_id, lease, reason = running.job.job_id, running.lease, running.ctx.stop_reason
        if reason == "lost":
            log.warning("job %s: lease lost; not settling", job_id, extra={"job_id": job_id})
            await self._orphans(result)
            return
        settled: Settled | None = None
        replacements: list[Job] = []
        for attempt in range(1, SETTLE_RETRIES + 1):
            try:
                settled, replacements = await self._settle_once(
                    job_id, lease, reason, result, error
                )
                break
            except Exception:
                if attempt == SETTLE_RETRIES:
                    # The lease expires and another worker re-runs the job; credits stay right.
                    log.exception("could not settle job", extra={"job_id": job_id})
                    return
                await asyncio.sleep(0.2 * 2**attempt)
        await self._take_over(replacements)
        if settled is None:
            log.warning("job %s: settled elsewhere (lease lost)", job_id, extra={"job_id": job_id})
            await self._orphans(result)
            return
        seconds = time.monotonic() - running.started
        observe_job(self.provider_of(running.job.model), settled.outcome, seconds)
        await self._announce(settled)

    async def _settle_once(
        self,
        job_id: str,
        lease: str,
        reason: str | None,
        result: JobResult | None,
        error: BaseException | None,
    ) -> tuple[Settled | None, list[Job]]:
        async with self.db.unit_of_work() as session:
            settled = await self._settle_in(session, job_id, lease, reason, result, error)
            replacements: list[Job] = []
            if not self._stopping and reason != "shutdown":
                # Claim the job that takes over this slot in the same transaction: one commit
                # (and one pool checkout) per job instead of two. The slot is still counted as
                # busy, so the main loop never claims for it too.
                replacements = await queue.claim_jobs(session, worker_id=self.worker_id, limit=1)
            return settled, replacements

    async def _take_over(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        if self._stopping or self._abandon:
            # stop() began while the claim committed: hand the jobs straight back.
            for job in jobs:
                if job.locked_by is None:  # pragma: no cover - claim_jobs always sets it
                    continue
                try:
                    async with self.db.unit_of_work() as session:
                        await queue.release_job(session, job_id=job.job_id, lease=job.locked_by)
                except Exception:
                    # Its lease expires and the reaper re-queues it.
                    log.warning("could not release job", exc_info=True)
            return
        for job in jobs:
            self._spawn(job)

    async def _settle_in(
        self,
        session: AsyncSession,
        job_id: str,
        lease: str,
        reason: str | None,
        result: JobResult | None,
        error: BaseException | None,
    ) -> Settled | None:
        if error is None:
            images = list(result.images) if result is not None else []
            job = await queue.complete_job(session, job_id=job_id, lease=lease, images=images)
            return Settled(job, "succeeded") if job else None
        if reason == "cancel":
            job = await queue.finish_canceled(session, job_id=job_id, lease=lease)
            return Settled(job, "canceled") if job else None
        if reason == "shutdown":
            job = await queue.release_job(session, job_id=job_id, lease=lease)
            return Settled(job, "released") if job else None
        code, message, retryable, retry_after = _describe(error)
        if code != "internal_error":  # _describe logged that one with its traceback
            detail = str(getattr(error, "detail", "") or "")
            log.warning(
                "job %s failed (%s%s): %s%s",
                job_id,
                code,
                ", retryable" if retryable else "",
                message,
                f" | {detail}" if detail and detail not in message else "",
                extra={"job_id": job_id, "code": code},
            )
        return await queue.fail_job(
            session,
            job_id=job_id,
            lease=lease,
            code=code,
            message=message,
            retryable=retryable,
            retry_after=retry_after,
        )

    async def _announce(self, settled: Settled) -> None:
        job = settled.job
        ref = job_ref(job)
        if settled.outcome == "succeeded":
            images = (job.result or {}).get("images", [])
            await self._emit(ref, "job.succeeded", {"images": images})
        elif settled.outcome == "failed":
            reason = job.error_message or "The generation failed."
            await self._emit(ref, "job.failed", {"reason": reason, "code": job.error_code})
        elif settled.outcome == "canceled":
            await self._emit(ref, "job.canceled", {})
        else:
            data: dict[str, Any] = {"position": await self._position(job.job_id)}
            if settled.outcome in ("retry", "requeued"):
                data["reason"] = job.error_message
                data["attempt"] = job.attempts
                data["retry_at"] = job.next_attempt_at.isoformat()
            else:
                data["reason"] = "The worker stopped; the job will start again."
            await self._emit(ref, "job.queued", data)

    async def _position(self, job_id: str) -> int | None:
        if self.on_job_event is None:
            return None
        try:
            async with self.db.unit_of_work() as session:
                snapshot = await queue.queue_snapshot(session)
            return snapshot.positions.get(job_id)
        except Exception:
            log.exception("queue position unavailable")
            return None

    async def _orphans(self, result: JobResult | None) -> None:
        if result is None or self.on_orphan_keys is None:
            return
        keys = [image.key for image in result.images]
        if keys:
            await self._guard(self.on_orphan_keys(keys), "orphan sink")

    async def _progress(
        self, running: _Running, ref: JobRef, step: int, total: int, preview: bytes | None
    ) -> None:
        now = time.monotonic()
        elapsed = now - running.started
        eta = elapsed / step * (total - step) if step > 0 else None
        data: dict[str, Any] = {
            "step": step,
            "total": total,
            "eta_s": round(eta, 1) if eta is not None else None,
        }
        if preview and self.preview_sink is not None:
            url = await self._guard(self.preview_sink(ref, preview), "preview sink")
            if url:
                data["preview_url"] = url
        await self._emit(ref, "job.progress", data)
        if now - running.last_write >= PROGRESS_WRITE_INTERVAL or step >= total:
            running.last_write = now
            try:
                async with self.db.unit_of_work() as session:
                    await queue.record_progress(
                        session, job_id=ref.job_id, lease=running.lease, step=step, total=total
                    )
            except Exception:
                log.warning("could not record progress", exc_info=True)

    # --- leases and cancels ----------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        poll = self.settings.job_poll_interval
        renew_every = max(0.05, self.settings.job_lease_seconds / 3)
        next_renew = time.monotonic() + renew_every
        while True:
            await asyncio.sleep(min(poll, renew_every))
            if not self._running:
                next_renew = time.monotonic() + renew_every
                continue
            by_lease = {r.lease: r for r in self._running.values()}
            try:
                async with self.db.unit_of_work() as session:
                    if time.monotonic() >= next_renew:
                        next_renew = time.monotonic() + renew_every
                        held = await queue.extend_leases(session, by_lease)
                    else:
                        held = await queue.cancel_requests(session, by_lease)
            except Exception:
                log.warning("lease renewal failed", exc_info=True)
                continue
            for lease, item in by_lease.items():
                if item.task is None or item.task.done():
                    continue
                if lease not in held:
                    item.interrupt("lost")
                elif held[lease]:
                    item.interrupt("cancel")

    def _local_cancel(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running.interrupt("cancel")

    # --- helpers -------------------------------------------------------------------------------

    async def _emit(self, ref: JobRef, kind: str, data: dict[str, Any]) -> None:
        if self.on_job_event is not None:
            await self._guard(self.on_job_event(ref, kind, data), f"event sink ({kind})")

    @staticmethod
    async def _guard(awaitable: Awaitable[Any], what: str) -> Any:
        # A sink failing (bus down, storage hiccup) must never break a job's settlement.
        try:
            return await awaitable
        except Exception:
            log.exception("%s failed", what)
            return None


async def log_job_event(job: JobRef, kind: str, data: dict[str, Any]) -> None:
    """The default event sink of ``hub worker``: a log line per event (no room to relay to)."""
    if kind != "job.progress":
        log.info("job %s: %s", job.job_id, kind, extra={"job_id": job.job_id, "event": kind})


async def run_worker_process(
    settings: Settings,
    *,
    runner: JobRunner,
    on_job_event: JobEventSink | None = None,
    preview_sink: PreviewSink | None = None,
    on_orphan_keys: OrphanSink | None = None,
    media_cleanup: MediaCleanup | None = None,
    db: Database | None = None,
    provider_of: Callable[[str], str] = str,
) -> int:
    """Run one worker until SIGTERM/SIGINT, then stop gracefully. ``hub worker`` calls it
    through :func:`hub.generation.component.run_worker`, which wires the runner and sink; a
    ``db`` passed in stays open (its owner disposes it)."""
    from hub.logs import configure_logging

    configure_logging(settings.log_level, json_logs=settings.log_json)
    own_db = db is None
    db = db if db is not None else Database(settings)
    worker = Worker(
        db,
        settings,
        runner,
        on_job_event or log_job_event,
        preview_sink=preview_sink,
        on_orphan_keys=on_orphan_keys,
        media_cleanup=media_cleanup,
        provider_of=provider_of,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await worker.start()
        await stop.wait()
        log.info("worker stopping", extra={"worker_id": worker.worker_id})
        await worker.stop(grace=0)  # hand running jobs back now, not after their lease
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if own_db:
            await db.dispose()
    return 0
