"""API throughput against the framework's floor (issue #14, goal 5), on SQLite and Postgres.

Goal: authenticated reads (``GET /api/v1/me``, ``GET /api/v1/rooms``) at >= 0.3x the
requests/s of a Starlette hello-world route returning the same JSON, served the same way in
the same run, and p99 < 200 ms with 1000 concurrent clients without time-outs.

Each server runs alone, pinned to core 0 (``taskset``), under a closed-loop load from a process
pinned to core 1 (``bench/_httpload.py``), one at a time: the hello-world app, ``hub serve`` as
shipped (uvloop, httptools, gc.freeze) and ``hub serve --loop asyncio --http h11`` (the
pure-Python stack it used before), so every ratio compares figures of the same minute.

    python -m bench.api [--backends sqlite,postgres] [--seconds S] [--clients 64]
                        [--many 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._httpload import run_load
from bench._roomload import setup_hub_rooms
from bench._util import free_port, wait_http_ok
from bench.queue import database

SERVER_CPU, LOAD_CPU = 0, 1
HELLO_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    BODY = open(sys.argv[2], "rb").read()

    async def hello(request):
        return Response(BODY, media_type="application/json")

    app = Starlette(routes=[Route("/", hello)])
    # The options of `hub serve` (hub/cli.py) that apply to plain HTTP.
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), proxy_headers=True,
                log_config=None, access_log=False)
    """
)


def _pinned(cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(SERVER_CPU), *cmd] if shutil.which("taskset") else cmd


@contextlib.contextmanager
def serving(cmd: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    proc = subprocess.Popen(
        _pinned(cmd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http_ok(base + "/", timeout=60)
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


def hub_env(url: str, tmp: Path, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": url,
        "HUB_DATA_DIR": str(tmp),
        "HUB_MEDIA_DIR": str(tmp / "media"),
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_EMBEDDED_WORKER": "false",
    }
    env.pop("REDIS_URL", None)
    return env


def _me_body(base: str, token: str) -> bytes:
    request = urllib.request.Request(  # noqa: S310 (loopback only)
        base + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return bytes(response.read())


def _load(base: str, path: str, clients: int, args: argparse.Namespace, token: str) -> Any:
    headers = [f"Authorization: Bearer {token}"] if path.startswith("/api/") else []
    return run_load(
        base, [path], connections=clients, seconds=args.seconds, headers=headers, cpu=LOAD_CPU
    )


def measure(url: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """All three servers stay up (idle ones cost nothing); each round loads them one after the
    other, route by route, so a noisy moment of the machine hits every figure of a round."""
    hub = [str(Path(sys.executable).parent / "hub"), "serve"]
    ports = free_port(), free_port(), free_port()
    hello_file = tmp / "hello_app.py"
    hello_file.write_text(HELLO_APP)
    found: dict[str, Any] = {name: {} for name in SERVERS}
    with contextlib.ExitStack() as stack:
        shipped = stack.enter_context(serving(hub, hub_env(url, tmp, ports[0]), ports[0]))
        slow_cmd = [*hub, "--loop", "asyncio", "--http", "h11"]
        slow = stack.enter_context(serving(slow_cmd, hub_env(url, tmp, ports[1]), ports[1]))
        token = setup_hub_rooms(shipped, rooms=3).token
        (tmp / "me.json").write_bytes(_me_body(shipped, token))
        hello_cmd = [sys.executable, str(hello_file), str(ports[2]), str(tmp / "me.json")]
        hello = stack.enter_context(serving(hello_cmd, os.environ.copy(), ports[2]))
        bases = dict(zip(SERVERS, (hello, shipped, slow), strict=True))
        for _ in range(args.rounds):
            for route, clients in routes(args):
                for name, base in bases.items():
                    # The hello-world app answers every path with the /me body.
                    r = _load(base, route, clients, args, token)
                    found[name].setdefault((route, clients), []).append(r)
    return {
        name: {key: _median(runs) for key, runs in by_route.items()}
        for name, by_route in found.items()
    }


SERVERS = ("hello", "hub", "hub (asyncio, h11)")


def routes(args: argparse.Namespace) -> list[tuple[str, int]]:
    return [
        ("/healthz", args.clients),
        ("/api/v1/me", args.clients),
        ("/api/v1/rooms", args.clients),
        ("/", args.clients),
        ("/api/v1/me", args.many),
    ]


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median requests/s (its latencies come with it)."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def report(backend: str, found: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"{backend}: requests/s (median of {args.rounds} interleaved rounds), ratio to the "
        "hello-world app returning the same JSON as /api/v1/me under the same load"
    )
    for route, clients in routes(args):
        base = found["hello"][(route, clients)]
        print(
            f"  {route} with {clients} clients: hello world {base['rps']:.0f} req/s, "
            f"p50 {base['p50_ms']:.1f} / p99 {base['p99_ms']:.1f} ms"
        )
        for name in SERVERS[1:]:
            r = found[name][(route, clients)]
            print(
                f"    {name:<19} {r['rps']:7.0f}   ratio {r['rps'] / base['rps']:.2f}x   "
                f"p50 {r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} ms   errors {r['errors']}"
            )
    hub, hello = found["hub"], found["hello"]
    worst = min(
        hub[(r, args.clients)]["rps"] / hello[(r, args.clients)]["rps"]
        for r in ("/api/v1/me", "/api/v1/rooms")
    )
    print(
        f"  goal authenticated reads >= 0.3x hello world: {'met' if worst >= 0.3 else 'MISSED'}"
        f" (worst {worst:.2f}x)"
    )
    many = hub[("/api/v1/me", args.many)]
    ok = many["p99_ms"] < 200 and many["errors"] == 0
    print(
        f"  goal p99 < 200 ms with {args.many} clients: {'met' if ok else 'MISSED'} "
        f"({many['p99_ms']:.0f} ms)",
        flush=True,
    )


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with database(backend, tmp) as url:
            print(f"\n--- {backend}", flush=True)
            found = await asyncio.to_thread(measure, url, tmp, args)
            report(backend, found, args)
            return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--many", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    results = {
        b.strip(): asyncio.run(run_backend(b.strip(), args)) for b in args.backends.split(",")
    }
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    if args.json:
        flat = {
            backend: {name: {f"{k[0]} x{k[1]}": v for k, v in by.items()} for name, by in r.items()}
            for backend, r in results.items()
        }
        args.json.write_text(json.dumps(flat, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
