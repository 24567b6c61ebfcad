"""A small closed-loop HTTP/1.1 load generator: ``connections`` keep-alive connections, each
sending its next request as soon as the previous answer is read, for ``seconds`` after a warm-up.

It runs in a process of its own (``python -m bench._httpload ...``, or :func:`run_load`), so the
server under test gets a core to itself on the 2-core machine, and it costs about 40 µs of CPU
per request: raw asyncio streams, no HTTP library. Prints one JSON line: requests, errors,
requests/s and latency percentiles in ms.

    python -m bench._httpload http://127.0.0.1:8000 /feed?sort=hot --connections 16 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from bench._util import percentile


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _connection(
    host: str, port: int, requests: list[bytes], stop_at: float, measure_from: float, out: Any
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    try:
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            writer.write(requests[n % len(requests)])
            n += 1
            status = await _read_response(reader)
            if started >= measure_from:
                out["latencies"].append((time.perf_counter() - started) * 1000)
                if status != 200:
                    out["errors"] += 1
    finally:
        writer.close()


async def load(
    base_url: str,
    paths: list[str],
    *,
    connections: int,
    seconds: float,
    warmup: float,
    headers: list[str] | None = None,
) -> dict[str, Any]:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{header}\r\n" for header in headers or [])
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n{extra}\r\n".encode()
        for path in paths
    ]
    out: dict[str, Any] = {"latencies": [], "errors": 0}
    now = time.perf_counter()
    measure_from, stop_at = now + warmup, now + warmup + seconds
    # Each connection starts on another request of the list, so a mix is spread evenly.
    tasks = [
        _connection(
            host,
            port,
            requests[i % len(requests) :] + requests[: i % len(requests)],
            stop_at,
            measure_from,
            out,
        )
        for i in range(connections)
    ]
    await asyncio.gather(*tasks)
    latencies: list[float] = out["latencies"]
    return {
        "requests": len(latencies),
        "errors": out["errors"],
        "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
    }


def run_load(
    base_url: str,
    paths: list[str],
    *,
    connections: int,
    seconds: float,
    warmup: float = 1.0,
    headers: list[str] | None = None,
    cpu: int | None = None,
) -> dict[str, Any]:
    """:func:`load` in a child process (pinned to core ``cpu`` when given); its result."""
    pin = ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []
    cmd = [
        *pin,
        sys.executable,
        "-m",
        "bench._httpload",
        base_url,
        *paths,
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
    ]
    for header in headers or []:
        cmd += ["--header", header]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 120)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    args = parser.parse_args(argv)
    result = asyncio.run(
        load(
            args.base_url,
            args.paths,
            connections=args.connections,
            seconds=args.seconds,
            warmup=args.warmup,
            headers=args.header,
        )
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
