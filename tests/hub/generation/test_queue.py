"""Queue mechanics at the service level: claim order, fair share, caps, pause, leases, retries,
cancel, positions, cleanup."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from hub.db import Database, utcnow
from hub.generation import queue
from hub.generation.models import JobState
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import assert_books_balance, make_user, wallet
from tests.hub.generation.helpers import claim, load, submit


@BOTH_DATABASES
async def test_fair_share_serves_a_newcomer_before_the_big_queue_continues(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    a_jobs = await submit(db, alice, times=12)
    (b_job,) = await submit(db, bob)
    # One claim at a time, each job finishing before the next claim (a one-slot worker).
    order: list[str] = []
    for _ in range(4):
        (job,) = await claim(db, 1)
        order.append(job.job_id)
        async with db.unit_of_work() as session:
            await queue.complete_job(
                session, job_id=job.job_id, lease=job.locked_by or "", images=[]
            )
    assert order[0] == a_jobs[0].job_id  # first come
    assert order[1] == b_job.job_id  # bob was never served; alice just was
    assert order[2:] == [a_jobs[1].job_id, a_jobs[2].job_id]  # FIFO within alice


@BOTH_DATABASES
async def test_claims_respect_the_per_user_cap_and_round_robin(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    a_jobs = await submit(db, alice, times=6)
    b_jobs = await submit(db, bob, times=1)
    claimed = await claim(db, 10)
    # alice, bob (fewest running), then alice up to her cap of 3; bob has nothing more.
    assert [j.job_id for j in claimed] == [
        a_jobs[0].job_id,
        b_jobs[0].job_id,
        a_jobs[1].job_id,
        a_jobs[2].job_id,
    ]
    assert all(j.state == "running" and j.attempts == 1 for j in claimed)
    assert len({j.locked_by for j in claimed}) == 4  # one lease token per claim
    assert await claim(db, 10) == []  # alice is capped


@BOTH_DATABASES
async def test_global_cap_and_priority(db: Database) -> None:
    db.settings = db.settings.model_copy(update={"jobs_max_running": 2})
    alice = await make_user(db, "alice")
    low = await submit(db, alice, times=2)
    async with db.unit_of_work() as session:
        from hub.generation import service
        from tests.hub.generation.helpers import job_request

        urgent = await service.submit_job(session, alice, request=job_request(), priority=5)
    first = await claim(db, 5)
    assert [j.job_id for j in first] == [urgent.jobs[0].job_id, low[0].job_id]
    assert await claim(db, 5) == []  # global cap of 2 reached


@BOTH_DATABASES
async def test_paused_queue_claims_nothing_until_resumed(db: Database) -> None:
    alice = await make_user(db, "alice")
    await submit(db, alice, times=2)
    async with db.unit_of_work() as session:
        control = await queue.set_paused(session, paused=True, actor_id=alice.user_id)
    assert control.paused
    assert control.paused_by == alice.user_id
    assert await claim(db, 5) == []
    async with db.unit_of_work() as session:
        await queue.set_paused(session, paused=False, actor_id=alice.user_id)
    assert len(await claim(db, 5)) == 2


@BOTH_DATABASES
async def test_claim_recreates_a_missing_queue_control_row(db: Database) -> None:
    alice = await make_user(db, "alice")
    await submit(db, alice)
    async with db.unit_of_work() as session:
        await session.execute(queue.QUEUE.delete())
    assert len(await claim(db, 1)) == 1


@BOTH_DATABASES
async def test_expired_lease_requeues_then_fails_and_refunds_after_max_attempts(
    db: Database,
) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    assert await wallet(db, alice.user_id) == (99, 1)
    for attempt in (1, 2, 3):
        (claimed,) = await claim(db, 1)
        assert claimed.attempts == attempt
        later = utcnow() + timedelta(seconds=db.settings.job_lease_seconds + 1)
        async with db.unit_of_work() as session:
            # Nobody renewed the lease: as if the worker died.
            reaped = await queue.reap_expired(session, now=later)
        assert [(s.job.job_id, s.outcome) for s in reaped] == [
            (job.job_id, "requeued" if attempt < 3 else "failed")
        ]
        if attempt < 3:
            async with db.unit_of_work() as session:
                await session.execute(
                    queue.JOBS.update().values(next_attempt_at=utcnow() - timedelta(seconds=1))
                )
    final = await load(db, job.job_id)
    assert final.state == "failed"
    assert final.error_code == "lease_expired"
    assert await wallet(db, alice.user_id) == (100, 0)
    await assert_books_balance(db, alice.user_id)


@BOTH_DATABASES
async def test_a_late_write_from_a_lost_lease_changes_nothing(db: Database) -> None:
    alice = await make_user(db, "alice")
    await submit(db, alice)
    (first,) = await claim(db, 1, worker_id="w1")
    later = utcnow() + timedelta(seconds=5)
    async with db.unit_of_work() as session:
        await queue.reap_expired(session, now=later)
        await session.execute(queue.JOBS.update().values(next_attempt_at=utcnow()))
    (second,) = await claim(db, 1, worker_id="w1")  # same worker id, new lease token
    assert second.locked_by != first.locked_by
    async with db.unit_of_work() as session:
        assert (
            await queue.complete_job(
                session, job_id=first.job_id, lease=first.locked_by or "", images=[]
            )
            is None
        )
        assert await queue.extend_leases(session, [first.locked_by or ""]) == {}
        assert await queue.extend_leases(session, [second.locked_by or ""]) == {
            second.locked_by: False
        }
    assert (await load(db, first.job_id)).state == "running"


def test_retry_delay_doubles_honours_hints_and_caps() -> None:
    delays = [queue.retry_delay(n, base=2.0, cap=300.0) for n in (1, 2, 3, 4)]
    assert delays == [2.0, 4.0, 8.0, 16.0]
    assert queue.retry_delay(1, base=2.0, cap=300.0, retry_after=30.0) == 30.0
    assert queue.retry_delay(20, base=2.0, cap=300.0) == 300.0


@BOTH_DATABASES
async def test_retryable_failures_back_off_then_fail_and_refund(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    outcomes = []
    for _ in range(3):
        async with db.unit_of_work() as session:
            await session.execute(
                queue.JOBS.update().values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
        (claimed,) = await claim(db, 1)
        before = utcnow()
        async with db.unit_of_work() as session:
            settled = await queue.fail_job(
                session,
                job_id=job.job_id,
                lease=claimed.locked_by or "",
                code="unavailable",
                message="try later",
                retryable=True,
            )
        assert settled is not None
        outcomes.append(settled.outcome)
        if settled.outcome == "retry":
            expected = db.settings.job_retry_base_seconds * 2 ** (claimed.attempts - 1)
            wait = (settled.job.next_attempt_at - before).total_seconds()
            assert expected - 0.01 <= wait <= expected + 1.0
            assert await claim(db, 1) == []  # not before the backoff has passed
    assert outcomes == ["retry", "retry", "failed"]
    assert (await load(db, job.job_id)).error_message == "try later"
    assert await wallet(db, alice.user_id) == (100, 0)


@BOTH_DATABASES
async def test_non_retryable_failure_fails_at_once(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    (claimed,) = await claim(db, 1)
    async with db.unit_of_work() as session:
        settled = await queue.fail_job(
            session,
            job_id=job.job_id,
            lease=claimed.locked_by or "",
            code="safety_blocked",
            message="blocked",
            retryable=False,
        )
    assert settled is not None
    assert settled.outcome == "failed"
    assert await wallet(db, alice.user_id) == (100, 0)


@BOTH_DATABASES
async def test_positions_follow_fair_share_and_eta_grows(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    a_jobs = await submit(db, alice, times=3)
    (b_job,) = await submit(db, bob)
    async with db.unit_of_work() as session:
        snap = await queue.queue_snapshot(session)
    order = [j.job_id for j in snap.queued]
    assert order == [a_jobs[0].job_id, b_job.job_id, a_jobs[1].job_id, a_jobs[2].job_id]
    assert [snap.positions[j] for j in order] == [1, 2, 3, 4]
    etas = [snap.eta_s[j] for j in order]
    assert etas == sorted(etas)
    assert etas[0] > 0
    assert snap.total_queued == 4
    assert not snap.paused


@BOTH_DATABASES
async def test_eta_learns_seconds_per_step_from_finished_jobs(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    (claimed,) = await claim(db, 1)
    async with db.unit_of_work() as session:
        done = await queue.complete_job(
            session,
            job_id=job.job_id,
            lease=claimed.locked_by or "",
            images=[],
            now=(claimed.claimed_at or utcnow()) + timedelta(seconds=16),
        )
        assert done is not None
        assert done.total_steps == 8
        pace = await queue.seconds_per_step(session, ["offline-sketch", "never-used"])
    assert pace == {"offline-sketch": pytest.approx(2.0), "never-used": 0.5}


@BOTH_DATABASES
async def test_purge_deletes_old_failed_and_canceled_jobs_and_reports_keys(db: Database) -> None:
    alice = await make_user(db, "alice")
    jobs = await submit(db, alice, times=3)
    old = utcnow() - timedelta(days=40)
    async with db.unit_of_work() as session:
        await session.execute(
            queue.JOBS.update()
            .where(queue.JOBS.c.job_id == jobs[0].job_id)
            .values(state="failed", finished_at=old, result={"images": [{"key": "gen/a.png"}]})
        )
        await session.execute(
            queue.JOBS.update()
            .where(queue.JOBS.c.job_id == jobs[1].job_id)
            .values(state="succeeded", finished_at=old)
        )
        result = await queue.purge_old_jobs(session, older_than=timedelta(days=30))
    assert result == queue.PurgeResult(1, ["gen/a.png"])
    async with db.unit_of_work() as session:
        assert await queue.get_job(session, jobs[0].job_id) is None
        assert await queue.get_job(session, jobs[1].job_id) is not None
        again = await queue.purge_old_jobs(session, older_than=timedelta(days=30))
    assert again.deleted == 0


def test_job_ids_are_time_ordered_uuids() -> None:
    ids = [queue.new_job_id() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 2000
    assert all(len(i) == 36 and i[14] == "7" for i in ids)


@BOTH_DATABASES
async def test_states_are_checked_by_the_database(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        async with db.unit_of_work() as session:
            await session.execute(
                queue.JOBS.update()
                .where(queue.JOBS.c.job_id == job.job_id)
                .values(state="exploded")
            )
    assert (await load(db, job.job_id)).state == JobState.queued


@BOTH_DATABASES
async def test_concurrent_claims_never_double_claim_or_break_caps(db: Database) -> None:
    db.settings = db.settings.model_copy(update={"jobs_per_user_running": 2, "jobs_max_running": 5})
    users = [await make_user(db, name) for name in ("alice", "bob", "carol")]
    for user in users:
        await submit(db, user, times=4)
    batches = await asyncio.gather(*(claim(db, 3, worker_id=f"w{n}") for n in range(8)))
    claimed = [job for batch in batches for job in batch]
    assert len(claimed) == 5  # the global cap
    assert len({job.job_id for job in claimed}) == 5  # nobody got a job twice
    per_user = Counter(job.user_id for job in claimed)
    assert max(per_user.values()) <= 2
    async with db.unit_of_work() as session:
        assert await queue.count_jobs(session, JobState.running) == 5


@BOTH_DATABASES
async def test_a_failure_after_a_cancel_request_counts_as_canceled(db: Database) -> None:
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    (claimed,) = await claim(db, 1)
    async with db.unit_of_work() as session:
        await queue.request_cancel(session, job.job_id)
        settled = await queue.fail_job(
            session,
            job_id=job.job_id,
            lease=claimed.locked_by or "",
            code="unavailable",
            message="down",
            retryable=True,
        )
    assert settled is not None
    assert settled.outcome == "canceled"
    assert await wallet(db, alice.user_id) == (100, 0)


@BOTH_DATABASES
async def test_an_idle_poll_takes_no_lock_and_a_claim_with_work_does(db: Database) -> None:
    async def claim_seq() -> int:
        async with db.unit_of_work() as session:
            return (await queue.get_queue_control(session)).claim_seq

    before = await claim_seq()
    assert await claim(db, 3) == []
    assert await claim_seq() == before  # nothing due: no write to queue_control
    alice = await make_user(db, "alice")
    (job,) = await submit(db, alice)
    (claimed,) = await claim(db, 3)
    assert claimed.job_id == job.job_id
    assert await claim_seq() == before + 1


@BOTH_DATABASES
async def test_one_claim_transaction_takes_several_jobs_in_fair_order(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    a_jobs = await submit(db, alice, times=3)
    b_jobs = await submit(db, bob, times=2)
    claimed = await claim(db, 4)
    # Round robin between users (fewest running first), FIFO within each; distinct leases.
    assert [job.job_id for job in claimed] == [
        a_jobs[0].job_id,
        b_jobs[0].job_id,
        a_jobs[1].job_id,
        b_jobs[1].job_id,
    ]
    assert len({job.locked_by for job in claimed}) == 4
    assert all(job.state == JobState.running.value and job.attempts == 1 for job in claimed)
