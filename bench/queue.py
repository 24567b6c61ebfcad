"""The job queue's own cost: claims per second and overhead per job with a runner that does no
work (``step_runner(0)``), against a bare ``SELECT 1`` transaction loop on the same database in
the same run. Goals (issue #5): overhead < 5 ms per job, >= 200 claims/s.

Each job is what the worker really does: a claim (queue lock, fair-share pick, lease),
``job.started``, the runner, and a settle (state + credits charge) which, in the same transaction,
claims the job that takes over the slot. Jobs are queued
before the clock starts. ``overhead/job`` is wall time per job with one slot (jobs run one after
another, so it is the queue's latency per job); ``claims/s`` is the throughput with several slots.

    python -m bench.queue [--jobs N] [--slots 1,8] [--backends postgres,sqlite] [--processes 2]

``--processes N`` (Postgres only: SQLite has a single writer) adds a run with N worker processes
of 8 slots each on one queue, as ``hub worker`` scales out.

Postgres: a private database ``hub_bench_<random>`` on ``HUB_BENCH_PG_URL`` (default the test
server), created, migrated and dropped by the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

PG_ADMIN_URL = os.environ.get("HUB_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 64
USERS = 8
BASELINE_ROUNDS = 1000


@asynccontextmanager
async def database(backend: str, tmp: Path) -> AsyncIterator[str]:
    """A migrated, empty database URL of its own; dropped afterwards."""
    from hub.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    import asyncpg

    name = f"hub_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{base}/{name}"
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_settings(url: str, tmp: Path, slots: int) -> Any:
    """Caps out of the way: the bench measures the queue's own cost, not its limits."""
    from hub.settings import Settings

    return Settings(
        environment="test",
        data_dir=tmp,
        media_dir=tmp / "media",
        database_url=url,
        auto_migrate=False,
        log_json=False,
        log_level="WARNING",
        signup_credits=1_000_000,
        worker_concurrency=slots,
        jobs_max_running=10_000,
        jobs_per_user_running=10_000,
        jobs_per_user_queued=1_000_000,
        job_batch_max_prompts=BATCH,
    )


async def baseline_ms(db: Any) -> float:
    """Milliseconds per ``SELECT 1`` in a unit of work (session, round trip, commit)."""
    for _ in range(50):  # warm the pool
        async with db.unit_of_work() as session:
            await session.execute(text("SELECT 1"))
    started = time.perf_counter()
    for _ in range(BASELINE_ROUNDS):
        async with db.unit_of_work() as session:
            await session.execute(text("SELECT 1"))
    return (time.perf_counter() - started) / BASELINE_ROUNDS * 1000


async def fill_queue(db: Any, jobs: int) -> None:
    from hub.accounts.deps import Actor
    from hub.accounts.roles import UserRole
    from hub.accounts.users import create_user
    from hub.generation import service
    from hub.generation.schemas import JobCreateIn

    actors = []
    async with db.unit_of_work() as session:
        for n in range(USERS):
            user = await create_user(
                session, email=f"bench{n}@example.test", username=f"bench{n}", password=None
            )
            assert user.user_id is not None
            actors.append(
                Actor(user.user_id, user.username, user.display_name, UserRole.USER, "api_token")
            )
    queued = 0
    while queued < jobs:
        size = min(BATCH, jobs - queued)
        request = JobCreateIn(
            kind="batch", model="offline-sketch", prompts=[f"p{queued + i}" for i in range(size)]
        )
        async with db.unit_of_work() as session:
            await service.submit_job(session, actors[(queued // BATCH) % USERS], request=request)
        queued += size


async def drain(db: Any, settings: Any, jobs: int, slots: int) -> float:
    """Seconds for one worker with ``slots`` slots to run ``jobs`` queued zero-cost jobs."""
    from hub.generation.queue import JobRef
    from hub.generation.runners import step_runner
    from hub.generation.worker import Worker

    done = asyncio.Event()
    finished = 0

    async def count(job: JobRef, kind: str, data: dict[str, Any]) -> None:
        nonlocal finished
        if kind in ("job.succeeded", "job.failed"):
            finished += 1
            if finished >= jobs:
                done.set()

    worker = Worker(db, settings, step_runner(0), count, concurrency=slots, cleanup_interval=1e9)
    started = time.perf_counter()
    await worker.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=max(120.0, jobs * 0.1))
        return time.perf_counter() - started
    finally:
        await worker.stop()


CHILD_FLAG = "--child"


async def child(url: str, tmp: str, slots: int) -> int:
    """One worker process: connect, say ready, wait for "go" on stdin, drain until SIGTERM."""
    import signal

    from hub.db import Database
    from hub.generation.runners import step_runner
    from hub.generation.worker import Worker

    settings = bench_settings(url, Path(tmp), slots)
    db = Database(settings)
    await baseline_ms_rounds(db, 20)  # open the pool before the clock starts
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    worker = Worker(db, settings, step_runner(0), None, concurrency=slots, cleanup_interval=1e9)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await worker.start()
    await stop.wait()
    await worker.stop()
    await db.dispose()
    return 0


async def baseline_ms_rounds(db: Any, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        async with db.unit_of_work() as session:
            await session.execute(text("SELECT 1"))
    return (time.perf_counter() - started) / rounds * 1000


async def measure_processes(jobs: int, processes: int, slots: int) -> dict[str, float]:
    import subprocess

    from hub.db import Database
    from hub.generation.models import JobState
    from hub.generation.queue import count_jobs

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        async with database("postgres", tmp) as url:
            settings = bench_settings(url, tmp, slots)
            db = Database(settings)
            children: list[subprocess.Popen[str]] = []
            try:
                base = await baseline_ms(db)
                await fill_queue(db, jobs)
                for _ in range(processes):
                    children.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "bench.queue",
                                CHILD_FLAG,
                                url,
                                tmp_name,
                                str(slots),
                            ],
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            text=True,
                        )
                    )
                for proc in children:
                    assert proc.stdout is not None
                    if proc.stdout.readline().strip() != "ready":
                        raise RuntimeError("a worker process did not start")
                started = time.perf_counter()
                for proc in children:
                    assert proc.stdin is not None
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                while True:
                    await asyncio.sleep(0.02)
                    async with db.unit_of_work() as session:
                        if await count_jobs(session, JobState.succeeded) >= jobs:
                            break
                    if time.perf_counter() - started > max(120.0, jobs * 0.1):
                        raise RuntimeError("the worker processes did not finish")
                seconds = time.perf_counter() - started
            finally:
                for proc in children:
                    proc.terminate()
                for proc in children:
                    proc.wait(timeout=30)
                await db.dispose()
    return {"base_ms": base, "per_job_ms": seconds / jobs * 1000, "jobs_s": jobs / seconds}


async def measure(backend: str, jobs: int, slots: int) -> dict[str, float]:
    from hub.db import Database
    from hub.generation.models import JobState
    from hub.generation.queue import count_jobs

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        async with database(backend, tmp) as url:
            settings = bench_settings(url, tmp, slots)
            db = Database(settings)
            try:
                base = await baseline_ms(db)
                await fill_queue(db, jobs)
                seconds = await drain(db, settings, jobs, slots)
                async with db.unit_of_work() as session:
                    succeeded = await count_jobs(session, JobState.succeeded)
                if succeeded != jobs:
                    raise RuntimeError(f"{succeeded} of {jobs} jobs succeeded")
            finally:
                await db.dispose()
    per_job = seconds / jobs * 1000
    return {"base_ms": base, "per_job_ms": per_job, "jobs_s": jobs / seconds}


async def run(args: argparse.Namespace) -> int:
    rows = []
    for backend in args.backends:
        for slots in args.slots:
            try:
                result = await measure(backend, args.jobs, slots)
            except OSError as exc:
                print(f"{backend}: unavailable ({exc}); skipped", flush=True)
                break
            rows.append((backend, slots, result))
            print(
                f"{backend:8} slots={slots}: {result['jobs_s']:7.1f} jobs/s  "
                f"{result['per_job_ms']:6.2f} ms/job  | SELECT 1 txn {result['base_ms']:.3f} ms  "
                f"-> a job costs {result['per_job_ms'] / result['base_ms']:.1f} SELECT-1 txns",
                flush=True,
            )
    if args.processes > 1 and "postgres" in args.backends:
        try:
            result = await measure_processes(args.jobs, args.processes, 8)
        except OSError as exc:
            print(f"postgres x{args.processes}: unavailable ({exc}); skipped", flush=True)
        else:
            rows.append((f"postgres, {args.processes} processes", 8, result))
            print(
                f"postgres x{args.processes} processes, 8 slots each: "
                f"{result['jobs_s']:7.1f} jobs/s  {result['per_job_ms']:6.2f} ms/job",
                flush=True,
            )
    print("\n| database | slots | claims/s | wall ms/job | SELECT 1 txn ms | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for backend, slots, r in rows:
        ratio = r["per_job_ms"] / r["base_ms"]
        print(
            f"| {backend} | {slots} | {r['jobs_s']:.0f} | {r['per_job_ms']:.2f} | "
            f"{r['base_ms']:.3f} | {ratio:.1f}x |"
        )
    for backend, slots, r in rows:
        if slots == 1:
            verdict = "met" if r["per_job_ms"] < 5 else "MISSED"
            print(f"goal {backend}: overhead < 5 ms/job (1 slot): {verdict}")
        else:
            verdict = "met" if r["jobs_s"] >= 200 else "MISSED"
            print(f"goal {backend}: >= 200 claims/s ({slots} slots): {verdict}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    if argv and argv[0] == CHILD_FLAG:
        return asyncio.run(child(argv[1], argv[2], int(argv[3])))
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--slots", type=lambda v: [int(x) for x in v.split(",")], default=[1, 8])
    parser.add_argument(
        "--backends",
        type=lambda v: [x.strip() for x in v.split(",")],
        default=["postgres", "sqlite"],
    )
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
