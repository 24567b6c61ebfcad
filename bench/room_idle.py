"""Memory per idle room connection: K idle y-websocket sockets held by one ``hub serve`` process,
against a plain ``websockets`` server holding the same sockets, in the same run. Goal (issue #4):
<= 40 KB of server RSS per idle connection.

    python -m bench.room_idle [--connections 10000] [--per-room 50] [--core]

The hub runs with its embedded defaults (SQLite, memory bus, sansio, compression off); its rooms
(``--per-room`` sockets each: 50 is the default member cap, so nothing is raised but the room
creation rate limit) are created through the API and joined with a personal token, the way a
browser joins. Every socket is admitted (it received the server's sync step 1) before memory is
read. Both servers first take and drop a warm-up batch, so one-time allocations (imports, caches,
the first room) are not charged to the connections; RSS is read once it has settled.

The open-file limit is raised to its hard limit in this process and the servers (children
inherit it); when it is below what K needs, K is lowered with a printed note.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench._roomload import (
    ServerProcess,
    Sinks,
    hub_env,
    raise_nofile_limit,
    scratch_dir,
    setup_hub_rooms,
    start_core,
    start_hub,
    start_relay,
)

FD_MARGIN = 300  # the server's own files: database, logs, pipes, listening socket


def _settled_rss(server: ServerProcess, timeout: float = 10.0) -> int:
    """RSS once it stops moving (two readings 0.5 s apart within 0.5 %)."""
    deadline = time.monotonic() + timeout
    last = server.rss()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = server.rss()
        if abs(now - last) <= last * 0.005:
            return now
        last = now
    return last


def _hold(
    server: ServerProcess, paths: list[str], warm: list[str], args: argparse.Namespace
) -> tuple[int, float, float]:
    """Open ``paths`` on ``server`` and keep them idle. Returns (opened, RSS delta per connection
    in bytes, seconds to connect)."""
    # Rooms greet a socket they admitted with sync step 1; the relay says nothing.
    greeting = server.name != "websockets relay"
    warm_sinks = Sinks(1, batch_ms=args.sink_batch_ms)
    try:
        warm_sinks.connect(server.port, warm, greeting=greeting)
        time.sleep(1.0)
    finally:
        warm_sinks.close()
    base = _settled_rss(server)
    sinks = Sinks(args.sink_procs, batch_ms=args.sink_batch_ms)
    try:
        started = time.monotonic()
        opened, failures = sinks.connect(server.port, paths, timeout=60.0, greeting=greeting)
        elapsed = time.monotonic() - started
        if opened < len(paths):
            raise RuntimeError(f"{server.name}: {opened}/{len(paths)} connected: {failures}")
        held = _settled_rss(server)
        server.check_alive()
        stats = sinks.stats()
        if stats.open < len(paths):
            raise RuntimeError(f"{server.name} dropped idle sockets: {stats.describe_losses()}")
        return opened, (held - base) / opened, elapsed
    finally:
        sinks.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=10_000, help="idle sockets (K)")
    parser.add_argument("--per-room", type=int, default=50, help="sockets per hub room")
    parser.add_argument("--warm", type=int, default=200, help="warm-up sockets, then closed")
    parser.add_argument(
        "--core", action="store_true", help="also measure the rooms core alone (no hub)"
    )
    parser.add_argument("--sink-procs", type=int, default=2, help="client worker processes")
    parser.add_argument("--sink-batch-ms", type=float, default=50.0, help="client poll pause")
    args = parser.parse_args(argv)
    limit = raise_nofile_limit()
    wanted = args.connections
    usable = limit - FD_MARGIN  # the server holds every socket in one process
    if wanted > usable:
        print(
            f"note: the open-file limit is {limit}; measuring {usable} connections instead of "
            f"{wanted} (raise `ulimit -Hn` for more)"
        )
        wanted = usable
    if wanted < 100:
        parser.error("too few connections to measure")
    rooms = -(-wanted // args.per_room)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-idle-logs-"))
    results: dict[str, tuple[int, float, float]] = {}
    with scratch_dir("bench-idle-") as tmp:
        env = hub_env(
            tmp,
            {
                "HUB_RATE_LIMIT_ROOM_CREATE": f"{rooms + 10}/hour",
                "HUB_ROOM_MAX_MEMBERS": str(max(50, args.per_room)),
            },
        )
        hub = start_hub(env, log_dir)
        try:
            room = setup_hub_rooms(hub.http_url, rooms + 1)
            warm_slug, slugs = room.slugs[0], room.slugs[1:]
            paths = [room.yjs_path(slugs[i // args.per_room]) for i in range(wanted)]
            warm = [room.yjs_path(warm_slug)] * min(args.warm, args.per_room)
            results["hub serve"] = _hold(hub, paths, warm, args)
        finally:
            hub.stop()
    paths = [f"/yjs/room-{i // args.per_room}" for i in range(wanted)]
    if args.core:
        core = start_core(log_dir)
        try:
            results["rooms core"] = _hold(core, paths, ["/yjs/warm"] * args.warm, args)
        finally:
            core.stop()
    relay = start_relay(log_dir)
    try:
        results["websockets"] = _hold(relay, paths, ["/yjs/warm"] * args.warm, args)
    finally:
        relay.stop()
    print(f"{wanted} idle y-websocket connections, {args.per_room} per room")
    for name, (opened, per_conn, elapsed) in results.items():
        print(
            f"{name:11} {per_conn / 1024:6.1f} KB per connection  "
            f"(RSS +{per_conn * opened / 2**20:.0f} MB; {opened} connected in {elapsed:.1f} s)"
        )
    hub_kb = results["hub serve"][1] / 1024
    base_kb = results["websockets"][1] / 1024
    print(f"ratio hub/websockets: {hub_kb / base_kb:.2f}x")
    print(f"goal <= 40 KB per idle connection: {'met' if hub_kb <= 40 else 'MISSED'}")
    print(f"server logs: {log_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
