"""The feeds at 100k works and 1M likes (issue #10), on SQLite and Postgres. Goals: the hot feed
page (``/feed?sort=hot``, 20 cards, a visitor who is not signed in) at >= 0.3x the requests/s
of a Starlette hello-world route served the same way in the same run, and ``GET /api/v1/feed``
p99 < 50 ms under 64 concurrent clients.

For each database: seed (``bench/_feedseed.py``; the seeding time is printed), print the plan of
every feed read at that size (each must scan its partial index alone: ``hub/works/plans.py``),
then run ``hub serve`` twice, as configured by default (the public page cache on,
``HUB_FEED_CACHE_SECONDS=5``) and with the cache off (every request reads the database, the
cost of a miss), and a hello-world app, each behind uvicorn with the same options, one at a
time under a closed-loop load from another process (``bench/_httpload.py``). The API load mixes
first pages and pages after a cursor of latest and hot, site-wide and in a category.

    python -m bench.feed [--backends sqlite,postgres] [--works N] [--likes N] [--users N]
                         [--seconds S] [--rounds R]

Postgres: a private database ``hub_bench_<random>`` on ``HUB_BENCH_PG_URL`` (default the test
server), created, migrated and dropped by the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._feedseed import Seed, build, write_postgres, write_sqlite
from bench._httpload import run_load
from bench._util import free_port, wait_http_ok
from bench.queue import database

HOT_PAGE = "/feed?sort=hot"
HELLO_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request):
        return PlainTextResponse("Hello, world!")

    app = Starlette(routes=[Route("/", hello)])
    # The options of `hub serve` (hub/cli.py) that apply to plain HTTP.
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), proxy_headers=True,
                log_config=None, access_log=False)
    """
)


@contextlib.contextmanager
def serving(cmd: list[str], env: dict[str, str], port: int, ready: str) -> Iterator[str]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http_ok(base + ready, timeout=60)
        except TimeoutError:
            proc.terminate()
            raise RuntimeError((proc.communicate(timeout=15)[1] or b"").decode()[-2000:]) from None
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def hub_env(url: str, tmp: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": url,
        "HUB_DATA_DIR": str(tmp),
        "HUB_MEDIA_DIR": str(tmp / "media"),
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_EMBEDDED_WORKER": "false",
        **extra,
    }
    env.pop("REDIS_URL", None)
    return env


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback only)
        return json.load(response)


def api_paths(base: str) -> list[str]:
    """First pages and the pages after them (by their next_cursor) of latest and hot, site-wide
    and in a category: what clients of the API read."""
    paths = []
    for query in (
        "sort=latest",
        "sort=hot",
        "sort=latest&category=showcase",
        "sort=hot&category=prompts",
    ):
        path = f"/api/v1/feed?{query}"
        for _ in range(3):
            paths.append(path)
            cursor = get_json(base + path)["next_cursor"]
            if not cursor:
                break
            path = f"/api/v1/feed?{query}&cursor={cursor}"
    return paths


async def seed(backend: str, url: str, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    rows = build(Seed(users=args.users, works=args.works, likes=args.likes))
    made = time.perf_counter() - started
    if backend == "sqlite":
        timings = await asyncio.to_thread(write_sqlite, url.split(":///", 1)[1], rows)
    else:
        timings = await write_postgres(url.replace("postgresql+asyncpg://", "postgresql://"), rows)
    likes = len(rows.rows["reactions"])
    spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    print(
        f"seeded {len(rows.rows['works'])} works, {likes} likes, {args.users} users: rows made "
        f"in {made:.1f} s, written in {sum(timings.values()):.1f} s ({spent})",
        flush=True,
    )


async def print_plans(url: str, tmp: Path) -> bool:
    from hub.db import Database
    from hub.settings import Settings
    from hub.works.plans import explain, feed_reads, reads_only_the_index

    db = Database(Settings(database_url=url, data_dir=tmp, log_level="WARNING"))
    ok = True
    try:
        async with db.unit_of_work() as session:
            dialect = session.get_bind().dialect.name
            for with_cursor in (False, True):
                for name, (stmt, index) in feed_reads(with_cursor=with_cursor).items():
                    plan = await explain(session, stmt)
                    good = reads_only_the_index(plan, index, dialect)
                    ok = ok and good
                    label = f"{name}{' after a cursor' if with_cursor else ''}"
                    lines = plan.replace("\n", "\n      ")
                    print(f"  plan {label}: {'ok' if good else 'NOT INDEX-ONLY'}\n      {lines}")
    finally:
        await db.dispose()
    return ok


def _rate(base: str, path: str, args: argparse.Namespace) -> float:
    return float(run_load(base, [path], connections=16, seconds=args.seconds)["rps"])


def measure(url: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    hello_file = tmp / "hello_app.py"
    hello_file.write_text(HELLO_APP)
    ports = free_port(), free_port(), free_port()
    hub = [str(Path(sys.executable).parent / "hub"), "serve"]
    hello_cmd = [sys.executable, str(hello_file), str(ports[0])]
    no_cache = hub_env(url, tmp, ports[2], HUB_FEED_CACHE_SECONDS="0")
    found: dict[str, Any] = {"hello": [], "cached": [], "uncached": []}
    with (
        serving(hello_cmd, os.environ.copy(), ports[0], "/") as hello,
        serving(hub, hub_env(url, tmp, ports[1]), ports[1], "/readyz") as cached,
        serving(hub, no_cache, ports[2], "/readyz") as uncached,
    ):
        for _ in range(args.rounds):  # interleaved, so that a noisy moment hits all three
            found["hello"].append(_rate(hello, "/", args))
            found["cached"].append(_rate(cached, HOT_PAGE, args))
            found["uncached"].append(_rate(uncached, HOT_PAGE, args))
        paths = api_paths(cached)
        # The floor of this machine at that concurrency: the hello-world under the same load.
        found["api_hello"] = run_load(hello, ["/"], connections=64, seconds=args.seconds)
        for name, base in (("api_cached", cached), ("api_uncached", uncached)):
            found[name] = run_load(base, paths, connections=64, seconds=args.seconds)
    return found


def report(backend: str, found: dict[str, Any], plans_ok: bool) -> None:
    hello = statistics.median(found["hello"])
    print(f"{backend}: requests/s, median of {len(found['hello'])} interleaved rounds")
    print(f"  hello world          {hello:8.0f}   (rounds: {found['hello']})")
    for name, label in (("cached", "hot page (cache on)"), ("uncached", "hot page (cache off)")):
        rate = statistics.median(found[name])
        rounds = [round(r) for r in found[name]]
        print(f"  {label:<20} {rate:8.0f}   ratio {rate / hello:.2f}x   (rounds: {rounds})")
    ratio = statistics.median(found["cached"]) / hello
    print(f"  goal hot page >= 0.3x hello world: {'met' if ratio >= 0.3 else 'MISSED'}")
    for name, label in (
        ("api_hello", "hello world, 64 clients"),
        ("api_cached", "GET /api/v1/feed, 64 clients, cache on"),
        ("api_uncached", "GET /api/v1/feed, 64 clients, cache off"),
    ):
        r = found[name]
        print(
            f"  {label}: {r['rps']:.0f} req/s, p50 "
            f"{r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms, "
            f"errors {r['errors']}"
        )
    p99 = found["api_cached"]["p99_ms"]
    print(f"  goal API p99 < 50 ms: {'met' if p99 < 50 else 'MISSED'} ({p99:.1f} ms)")
    print(f"  every feed read scans its index alone: {'yes' if plans_ok else 'NO'}", flush=True)


async def run_backend(backend: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with database(backend, tmp) as url:
            print(f"\n--- {backend}", flush=True)
            await seed(backend, url, args)
            plans_ok = await print_plans(url, tmp)
            found = await asyncio.to_thread(measure, url, tmp, args)
            report(backend, found, plans_ok)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--works", type=int, default=100_000)
    parser.add_argument("--likes", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    for backend in args.backends.split(","):
        asyncio.run(run_backend(backend.strip(), args))
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
