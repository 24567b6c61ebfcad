"""Two ``hub serve`` processes sharing Redis and one database: latency of an edit made on process
A as seen on process B, against the same edit seen on A itself (the single-process baseline), in
the same run, with the room's subscribers split across both. Goal (issue #4): p99 A->B < 50 ms.

    python -m bench.room_cross_instance [--subscribers 1000] [--rate 100] [--seconds 10]
                                        [--database-url URL] [--redis-url URL]

One probe sends ``--rate`` real Yjs updates/s to A; one probe on A and one on B time them. Both
receivers hear the very same updates under the very same load, so the difference between them is
what crossing processes costs (Redis publish, subscriber, apply, local fan-out on B). The hub
processes run as ``hub serve`` runs scaled out (Redis bus and presence, a shared database: by
default one SQLite file, or ``--database-url`` for Postgres); their Redis keys carry a prefix of
their own, so a shared Redis is safe (nothing is flushed). The room member cap is raised to fit
the subscribers and the per-socket rate limit lifted (one probe sends faster than a person types).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from bench._roomload import (
    Probes,
    ServerProcess,
    Sinks,
    cpu_seconds,
    hub_env,
    raise_nofile_limit,
    scratch_dir,
    setup_hub_rooms,
    start_hub,
    summarize,
    wait_joined,
)
from bench._util import percentile

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), 2):
            return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000, help="split over A and B")
    parser.add_argument("--rate", type=float, default=100.0, help="updates/s sent to A")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured time")
    parser.add_argument("--database-url", default="", help="shared database (default: SQLite)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS)
    parser.add_argument("--sink-procs", type=int, default=2, help="sink worker processes")
    parser.add_argument("--sink-batch-ms", type=float, default=50.0, help="sink poll pause")
    args = parser.parse_args(argv)
    if not _reachable(args.redis_url):
        print(f"SKIPPED: no Redis at {args.redis_url} (start one or pass --redis-url)")
        return 0
    limit = raise_nofile_limit()
    if limit < args.subscribers // 2 + 200:
        parser.error(f"open-file limit {limit} is too low for {args.subscribers} subscribers")
    log_dir = Path(tempfile.mkdtemp(prefix="bench-cross-logs-"))
    with scratch_dir("bench-cross-") as tmp:
        database_url = args.database_url or f"sqlite:///{tmp / 'shared.sqlite3'}"
        overrides = {
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "HUB_REDIS_KEY_PREFIX": f"bench{os.getpid()}x{time.monotonic_ns() % 10**6}:",
            "HUB_ROOM_MAX_MEMBERS": str(args.subscribers + 10),
            "HUB_ROOM_MESSAGES_PER_SECOND": str(max(60.0, args.rate * 4)),
            # The limiter's Redis keys outlive a run: repeated runs in one hour would hit 429.
            "HUB_RATE_LIMIT_ROOM_CREATE": "1000/hour",
        }
        servers: list[ServerProcess] = []
        sinks: Sinks | None = None
        probes: Probes | None = None
        try:
            env_a = hub_env(tmp / "a", overrides)
            servers.append(start_hub(env_a, log_dir, name="hub A"))
            env_b = hub_env(tmp / "b", overrides)
            servers.append(start_hub(env_b, log_dir, name="hub B", migrate=False))
            a, b = servers
            room = setup_hub_rooms(a.http_url, 1)
            path = room.yjs_path(room.slugs[0])
            sinks = Sinks(args.sink_procs, batch_ms=args.sink_batch_ms)
            probes = Probes()
            half = args.subscribers // 2
            # Rooms write to their sockets in join order: the probes join between two halves
            # of each process' subscribers, so they time a median recipient.
            rest = args.subscribers - half
            splits = [(half // 2, rest // 2), (half - half // 2, rest - rest // 2)]
            for index, (on_a, on_b) in enumerate(splits):
                if index == 1:
                    probes.connect(
                        [
                            ("sender", f"ws://127.0.0.1:{a.port}{path}"),
                            ("A->A", f"ws://127.0.0.1:{a.port}{path}"),
                            ("A->B", f"ws://127.0.0.1:{b.port}{path}"),
                        ]
                    )
                for server, count in ((a, on_a), (b, on_b)):
                    opened, failures = sinks.connect(server.port, [path] * count, greeting=True)
                    if opened < count:
                        raise RuntimeError(f"{server.name}: subscribers failed: {failures}")
            joined = wait_joined(probes, 3, sinks, args.subscribers)
            print(
                f"{args.subscribers} subscribers ({half} on A, {args.subscribers - half} on B), "
                f"everyone joined {joined:.1f} s after the upgrades; {args.rate:g} updates/s "
                f"to A for {args.seconds:g} s; database {urlparse(database_url).scheme}",
                flush=True,
            )
            probes.start([0], rate=args.rate)
            time.sleep(args.warmup)
            before = sinks.stats()
            cpu0 = [server.cpu_seconds() for server in servers]
            load0 = sum(cpu_seconds(pid) for pid in [*sinks.pids, probes.pid])
            probes.open_window()
            time.sleep(args.seconds)
            after = sinks.stats()
            cpu1 = [server.cpu_seconds() for server in servers]
            load1 = sum(cpu_seconds(pid) for pid in [*sinks.pids, probes.pid])
            result = probes.finish(grace=5.0)
            for server in servers:
                server.check_alive()
            elapsed = after.at - before.at
        finally:
            if probes is not None:
                probes.close()
            if sinks is not None:
                sinks.close()
            for server in servers:
                server.stop()
    if result.errors:
        print(f"probe errors: {result.errors[:3]}")
        return 1
    same = result.latency_ms["A->A"]
    cross = result.latency_ms["A->B"]
    deliveries = (after.updates - before.updates) / elapsed
    print(
        f"deliveries/s at the subscribers {deliveries:,.0f} (expected "
        f"{args.rate * args.subscribers:,.0f}); CPU: hub A {(cpu1[0] - cpu0[0]) / elapsed:.0%}, "
        f"hub B {(cpu1[1] - cpu0[1]) / elapsed:.0%}, load generator {(load1 - load0) / elapsed:.0%}"
    )
    if after.open < args.subscribers:
        print(f"subscribers lost: {after.describe_losses()}")
    print(f"A->A (single process, baseline): {summarize(same)}  lost {result.lost('A->A')}")
    print(f"A->B (across processes):         {summarize(cross)}  lost {result.lost('A->B')}")
    p99_cross, p99_same = percentile(cross, 99), percentile(same, 99)
    print(
        f"ratio cross/single: p50 {percentile(cross, 50) / percentile(same, 50):.2f}x, "
        f"p99 {p99_cross / p99_same:.2f}x; cross-process cost at p50 "
        f"{percentile(cross, 50) - percentile(same, 50):+.1f} ms"
    )
    print(f"goal p99 A->B < 50 ms: {'met' if p99_cross < 50 else 'MISSED'}")
    print(f"server logs: {log_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
