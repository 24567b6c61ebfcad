"""The worker end to end: events, settlement, retries, cancel, lease takeover, graceful stop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hub.db import Database
from hub.generation import queue, service
from hub.generation.models import Job
from hub.generation.runner_api import JobContext, JobResult
from hub.generation.runners import step_runner
from hub.generation.worker import Worker
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.credits.helpers import assert_books_balance, make_user, wallet
from tests.hub.generation.helpers import (
    EventLog,
    flaky_runner,
    gated_runner,
    job_request,
    load,
    submit,
)


async def state_of(db: Database, job_id: str) -> str:
    return (await load(db, job_id)).state


@BOTH_DATABASES
async def test_worker_runs_a_job_and_charges_it(db: Database) -> None:
    alice = await make_user(db, "alice")
    events = EventLog()
    (job,) = await submit(db, alice)
    worker = Worker(db, db.settings, step_runner(steps=3), events, concurrency=1)
    await worker.start()
    try:
        await eventually(lambda: events.kinds(job.job_id)[-1:] == ["job.succeeded"], 5)
    finally:
        await worker.stop()
    assert events.kinds(job.job_id) == [
        "job.started",
        "job.progress",
        "job.progress",
        "job.progress",
        "job.succeeded",
    ]
    progress = [data for _, data in events.of("job.progress")]
    assert [(p["step"], p["total"]) for p in progress] == [(1, 3), (2, 3), (3, 3)]
    ((_, done),) = events.of("job.succeeded")
    assert done["images"][0]["key"] == f"steps/{job.job_id}/0.txt"
    final = await load(db, job.job_id)
    assert final.state == "succeeded"
    assert final.step == 3
    assert final.total_steps == 3
    assert final.locked_by is None
    assert final.finished_at is not None
    assert await wallet(db, alice.user_id) == (99, 0)
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_fair_share_under_a_real_worker(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    started: list[str] = []

    async def record(job: queue.JobRef, kind: str, data: dict[str, object]) -> None:
        if kind == "job.started":
            started.append(job.job_id)

    a_jobs = await submit(db, alice, times=50)
    (b_job,) = await submit(db, bob)
    worker = Worker(db, db.settings, step_runner(steps=1), record, concurrency=1)
    await worker.start()
    try:
        await eventually(lambda: b_job.job_id in started and len(started) >= 4, 10)
    finally:
        await worker.stop()
    # B starts before A's 4th job (here: right after A's first, since A was just served).
    assert a_jobs[3].job_id not in started[: started.index(b_job.job_id)]
    assert started[:2] == [a_jobs[0].job_id, b_job.job_id]


@BOTH_DATABASES
async def test_retryable_errors_are_retried_until_success(db: Database) -> None:
    alice = await make_user(db, "alice")
    events = EventLog()
    (job,) = await submit(db, alice)
    worker = Worker(db, db.settings, flaky_runner(2, retryable=True), events, concurrency=1)
    await worker.start()
    try:
        await eventually(lambda: "job.succeeded" in events.kinds(job.job_id), 10)
    finally:
        await worker.stop()
    final = await load(db, job.job_id)
    assert final.state == "succeeded"
    assert final.attempts == 3
    assert final.error_code is None
    requeued = [data for jid, data in events.of("job.queued") if jid == job.job_id]
    assert [d["attempt"] for d in requeued] == [1, 2]
    assert await wallet(db, alice.user_id) == (99, 0)


@BOTH_DATABASES
async def test_non_retryable_error_fails_once_and_refunds(db: Database) -> None:
    alice = await make_user(db, "alice")
    events = EventLog()
    (job,) = await submit(db, alice)
    worker = Worker(
        db, db.settings, flaky_runner(5, retryable=False, code="safety_blocked"), events
    )
    await worker.start()
    try:
        await eventually(lambda: "job.failed" in events.kinds(job.job_id), 5)
    finally:
        await worker.stop()
    ((_, failed),) = events.of("job.failed")
    assert failed == {"reason": "attempt 1 failed", "code": "safety_blocked"}
    final = await load(db, job.job_id)
    assert final.state == "failed"
    assert final.attempts == 1
    assert await wallet(db, alice.user_id) == (100, 0)
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_retryable_errors_give_up_after_max_attempts(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    worker = Worker(db, db.settings, flaky_runner(9, retryable=True), None)
    await worker.start()
    try:
        await eventually(lambda: _is(db, job.job_id, "failed"), 10)
    finally:
        await worker.stop()
    final = await load(db, job.job_id)
    assert final.attempts == 3
    assert final.error_code == "unavailable"
    assert await wallet(db, alice.user_id) == (100, 0)


async def _is(db: Database, job_id: str, state: str) -> bool:
    return await state_of(db, job_id) == state


async def test_a_crashing_runner_fails_the_job_with_a_generic_message(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)

    async def broken(ctx: JobContext) -> JobResult:
        raise KeyError("internal detail that must not leak")

    worker = Worker(db, db.settings, broken, None)
    await worker.start()
    try:
        await eventually(lambda: _is(db, job.job_id, "failed"), 5)
    finally:
        await worker.stop()
    final = await load(db, job.job_id)
    assert final.error_code == "internal_error"
    assert "internal detail" not in (final.error_message or "")
    assert final.attempts == 1


@BOTH_DATABASES
async def test_cancel_running_job_stops_the_runner_and_refunds(db: Database) -> None:
    alice = await make_user(db, "alice")
    events = EventLog()
    (job,) = await submit(db, alice)
    gate = asyncio.Event()  # never opened: only the cancel can end the run
    worker = Worker(db, db.settings, gated_runner(gate), events, concurrency=1)
    await worker.start()
    try:
        await eventually(lambda: _is(db, job.job_id, "running"), 5)
        async with db.unit_of_work() as session:
            flagged = await service.cancel_job(session, alice, job.job_id)
        assert flagged.state == "running"
        assert flagged.cancel_requested
        await eventually(lambda: "job.canceled" in events.kinds(job.job_id), 5)
    finally:
        await worker.stop()
    assert (await load(db, job.job_id)).state == "canceled"
    assert await wallet(db, alice.user_id) == (100, 0)
    await assert_books_balance(db, alice.user_id)


async def test_signals_reach_the_worker_before_its_next_poll(db: Database) -> None:
    # Polls 30 s apart: only the worker's own signals, passed to the service, can be this quick.
    slow = db.settings.model_copy(update={"job_poll_interval": 30.0, "job_lease_seconds": 90.0})
    alice = await make_user(db, "alice")
    events = EventLog()
    worker = Worker(db, slow, gated_runner(asyncio.Event()), events, concurrency=1)
    await worker.start()
    try:
        await asyncio.sleep(0.05)  # the first loop finds nothing and starts its long wait
        async with db.unit_of_work() as session:
            submitted = await service.submit_job(
                session, alice, request=job_request(), signals=worker.signals
            )
        (job,) = submitted.jobs
        await eventually(lambda: "job.started" in events.kinds(job.job_id), 5)
        async with db.unit_of_work() as session:
            await service.cancel_job(session, alice, job.job_id, signals=worker.signals)
        await eventually(lambda: "job.canceled" in events.kinds(job.job_id), 5)
    finally:
        await worker.stop()


@BOTH_DATABASES
async def test_cancel_from_another_process_is_seen_by_polling(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    worker = Worker(db, db.settings, gated_runner(asyncio.Event()), None, concurrency=1)
    await worker.start()
    try:
        await eventually(lambda: _is(db, job.job_id, "running"), 5)
        async with db.unit_of_work() as session:
            # Flag it without the in-process nudge, as a web process elsewhere would.
            await queue.request_cancel(session, job.job_id)
        await eventually(lambda: _is(db, job.job_id, "canceled"), 5)
    finally:
        await worker.stop()
    assert await wallet(db, alice.user_id) == (100, 0)


@BOTH_DATABASES
async def test_a_second_worker_takes_over_after_the_first_dies(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    first = Worker(db, db.settings, gated_runner(asyncio.Event()), None, worker_id="doomed")
    await first.start()
    await eventually(lambda: _is(db, job.job_id, "running"), 5)
    await first.stop(release=False)  # dies: no settlement, no lease renewal
    assert (await load(db, job.job_id)).locked_by.startswith("doomed/")  # type: ignore[union-attr]
    events = EventLog()
    second = Worker(db, db.settings, step_runner(steps=2), events, worker_id="rescuer")
    await second.start()
    try:
        await eventually(lambda: _is(db, job.job_id, "succeeded"), 10)
    finally:
        await second.stop()
    final = await load(db, job.job_id)
    assert final.attempts == 2
    assert events.kinds(job.job_id)[0] == "job.queued"  # the reaper announced the requeue
    assert await wallet(db, alice.user_id) == (99, 0)
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_graceful_stop_releases_unfinished_jobs_without_counting_an_attempt(
    db: Database,
) -> None:
    alice = await make_user(db, "alice")
    events = EventLog()
    (job,) = await submit(db, alice)
    worker = Worker(db, db.settings, gated_runner(asyncio.Event()), events)
    await worker.start()
    await eventually(lambda: _is(db, job.job_id, "running"), 5)
    await worker.stop(grace=0.05)
    released = await load(db, job.job_id)
    assert released.state == "queued"
    assert released.attempts == 0
    assert released.locked_by is None
    assert events.kinds(job.job_id)[-1] == "job.queued"
    assert await wallet(db, alice.user_id) == (99, 1)  # still reserved for the next run


async def test_graceful_stop_lets_short_jobs_finish(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    gate = asyncio.Event()
    worker = Worker(db, db.settings, gated_runner(gate), None)
    await worker.start()
    await eventually(lambda: _is(db, job.job_id, "running"), 5)
    stopping = asyncio.create_task(worker.stop(grace=5))
    gate.set()
    await stopping
    assert (await load(db, job.job_id)).state == "succeeded"


@BOTH_DATABASES
async def test_worker_concurrency_and_per_user_cap(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    started: list[str] = []
    gate = asyncio.Event()
    a_jobs = await submit(db, alice, times=5)
    (b_job,) = await submit(db, bob)
    worker = Worker(db, db.settings, gated_runner(gate, started), None, concurrency=5)
    await worker.start()
    try:
        await eventually(lambda: len(started) == 4, 5)
        assert set(started) == {a_jobs[0].job_id, a_jobs[1].job_id, a_jobs[2].job_id, b_job.job_id}
        assert len(worker.running_jobs) == 4  # a free slot, but alice is at her cap of 3
        gate.set()
        await eventually(lambda: len(started) == 6, 5)
    finally:
        await worker.stop()


async def test_worker_survives_a_failing_event_sink(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)

    async def broken_sink(job: queue.JobRef, kind: str, data: dict[str, object]) -> None:
        raise RuntimeError("bus down")

    worker = Worker(db, db.settings, step_runner(steps=2), broken_sink)
    await worker.start()
    try:
        await eventually(lambda: _is(db, job.job_id, "succeeded"), 5)
    finally:
        await worker.stop()


async def test_cleanup_reports_orphan_keys(db: Database) -> None:
    from datetime import timedelta

    from hub.db import utcnow

    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    async with db.unit_of_work() as session:
        await session.execute(
            queue.JOBS.update().values(
                state="canceled",
                finished_at=utcnow() - timedelta(days=31),
                result={"images": [{"key": "generations/x/0.png"}]},
            )
        )
    reported: list[list[str]] = []

    async def orphans(keys: list[str]) -> None:
        reported.append(keys)

    worker = Worker(db, db.settings, step_runner(), None, on_orphan_keys=orphans)
    assert await worker.cleanup() == 1
    assert reported == [["generations/x/0.png"]]
    async with db.unit_of_work() as session:
        assert await queue.get_job(session, job.job_id) is None


@BOTH_DATABASES
async def test_settling_a_job_claims_the_next_one_in_the_same_transaction(db: Database) -> None:
    alice = await make_user(db, "alice")
    jobs = await submit(db, alice, times=4)
    events = EventLog()
    worker = Worker(db, db.settings, step_runner(steps=0), events, concurrency=1)
    loop_claims = 0
    real_claim = worker._claim

    async def counting_claim(free: int) -> list[Job]:
        nonlocal loop_claims
        loop_claims += 1
        return await real_claim(free)

    worker._claim = counting_claim  # type: ignore[method-assign]
    await worker.start()
    try:
        await eventually(lambda: len(events.of("job.succeeded")) == 4, 10)
    finally:
        await worker.stop()
    # The main loop claimed the first job; each settle claimed its successor itself.
    assert [job_id for job_id, _ in events.of("job.started")] == [j.job_id for j in jobs]
    assert loop_claims <= 2  # the first claim, then one idle poll after the queue drained
    for job in jobs:
        assert (await load(db, job.job_id)).state == "succeeded"
    assert await wallet(db, alice.user_id) == (96, 0)
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_a_job_claimed_by_a_settle_during_stop_goes_back_to_the_queue(db: Database) -> None:
    alice = await make_user(db, "alice")
    first, second = await submit(db, alice, times=2)
    gate = asyncio.Event()
    worker = Worker(db, db.settings, gated_runner(gate), None, concurrency=1)
    await worker.start()
    await eventually(lambda: _is(db, first.job_id, "running"), 5)
    # Simulate stop() beginning while the settle's replacement claim commits.
    real_settle_once = worker._settle_once

    async def settle_then_stop(*args: Any) -> Any:
        outcome = await real_settle_once(*args)
        worker._stopping = True
        return outcome

    worker._settle_once = settle_then_stop  # type: ignore[method-assign,assignment]
    gate.set()
    await eventually(lambda: _is(db, first.job_id, "succeeded"), 5)
    await eventually(lambda: _is(db, second.job_id, "queued"), 5)
    released = await load(db, second.job_id)
    assert released.attempts == 0  # handed back, not counted
    assert released.locked_by is None
    assert worker.running_jobs == set()
    await worker.stop()


async def test_cleanup_runs_the_media_sweep_and_survives_its_failure(db: Database) -> None:
    calls: list[str] = []

    async def sweep() -> object:
        calls.append("sweep")
        if len(calls) == 2:
            raise RuntimeError("storage is down")
        return None

    worker = Worker(db, db.settings, step_runner(), None, media_cleanup=sweep)
    assert await worker.cleanup() == 0
    assert await worker.cleanup() == 0  # a failing sweep is logged, not raised
    assert calls == ["sweep", "sweep"]


async def test_component_media_sweep_deletes_unreferenced_old_files(
    db: Database, tmp_path: Path
) -> None:
    from hub.generation.component import media_cleanup
    from hub.storage.backends import LocalStorage

    storage = LocalStorage(tmp_path / "media")
    from hub.storage.keys import new_media_id

    # A file no row references, named like a save that never committed.
    key = f"images/job-x/0/{new_media_id()}.png"
    await storage.put(key, b"png", "image/png")
    keep = media_cleanup(db, storage, db.settings)  # default grace: a day
    await keep()
    assert await storage.exists(key)
    await asyncio.sleep(0.01)
    settings = db.settings.model_copy(update={"media_orphan_grace_seconds": 0})
    await media_cleanup(db, storage, settings)()
    assert not await storage.exists(key)
