"""``python -m scale up | down | status | restart web-N`` (``make scale`` / ``make scale-down``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scale.plan import Plan
from scale.postgres import database_url, ensure_database
from scale.topology import TopologyError, down, running, up

ROOT = Path(__file__).resolve().parent.parent


def _up(args: argparse.Namespace) -> int:
    if ensure_database(args.postgres, args.database):
        print(f"created database {args.database}")
    plan = Plan(
        run_dir=args.run_dir,
        database_url=database_url(args.postgres, args.database),
        redis_url=args.redis,
        port=args.port,
        web=args.web,
        workers=args.workers,
    )
    try:
        started = up(plan)
    except TopologyError as exc:
        print(f"scale up failed: {exc}", file=sys.stderr)
        return 1
    for record in started.processes:
        where = f" on 127.0.0.1:{record.port}" if record.port else ""
        print(f"  {record.name:<9} pid {record.pid}{where}  log {record.log}")
    print(f"\nThe hub is at {started.url}  (stop it with: make scale-down)")
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = down(args.run_dir)
    print(f"stopped {len(stopped)} processes" if stopped else "nothing was running")
    return 0


def _restart(args: argparse.Namespace) -> int:
    from scale.rolling import restart_web

    try:
        new = restart_web(args.run_dir, args.name)
    except TopologyError as exc:
        print(f"restart failed: {exc}", file=sys.stderr)
        return 1
    print(f"  {new.name:<9} pid {new.pid} on 127.0.0.1:{new.port} (drained, restarted, back)")
    return 0


def _status(args: argparse.Namespace) -> int:
    current = running(args.run_dir)
    if current is None:
        print("not running")
        return 1
    for record in current.processes:
        print(f"  {record.name:<9} pid {record.pid}  {'up' if record.alive else 'DOWN'}")
    print(current.url)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scale", description=__doc__)
    parser.add_argument(
        "--run-dir", type=Path, default=ROOT / "var" / "scale", help="state, logs, nginx.conf"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start the topology and print its URL")
    start.add_argument("--port", type=int, default=8080, help="nginx's port (default 8080)")
    start.add_argument("--web", type=int, default=3, help="hub serve processes (default 3)")
    start.add_argument("--workers", type=int, default=2, help="hub worker processes (default 2)")
    start.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="any database URL on the Postgres server to use",
    )
    start.add_argument("--database", default="hub_scale", help="database (created if missing)")
    start.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL")
    start.set_defaults(func=_up)
    sub.add_parser("down", help="stop what `up` started").set_defaults(func=_down)
    restart = sub.add_parser("restart", help="drain, restart and undrain one web process")
    restart.add_argument("name", help="web-1, web-2, ...")
    restart.set_defaults(func=_restart)
    sub.add_parser("status", help="list the recorded processes").set_defaults(func=_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
