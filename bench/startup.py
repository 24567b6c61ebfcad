"""Cold start to /readyz and idle RSS of `hub serve` (embedded defaults: SQLite, memory bus,
migrations on an empty database), against a bare Starlette + uvicorn app started the same way in
the same run. Goals (issue #3): cold start < 2 s, idle RSS < 150 MB.

    python -m bench.startup [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench._util import free_port, rss_bytes, wait_http_ok

BASELINE_APP = textwrap.dedent(
    """
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ready(request):
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/readyz", ready)])
    uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
    """
)


def _measure(cmd: list[str], port: int, env: dict[str, str], cwd: str) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", timeout=60)
        cold = time.perf_counter() - started
        time.sleep(1.0)  # let startup garbage settle before reading idle memory
        return cold, rss_bytes(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    hub_bin = str(Path(sys.executable).parent / "hub")
    hub_cold, hub_rss, base_cold, base_rss = [], [], [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            env = {
                **os.environ,
                "PORT": str(port),
                "HUB_DATA_DIR": tmp,
                "HUB_MEDIA_DIR": f"{tmp}/media",
                "HUB_LOG_LEVEL": "WARNING",
            }
            env.pop("DATABASE_URL", None)
            env.pop("REDIS_URL", None)
            cold, rss = _measure([hub_bin, "serve"], port, env, tmp)
            hub_cold.append(cold)
            hub_rss.append(rss)
            base = Path(tmp) / "baseline_app.py"
            base.write_text(BASELINE_APP)
            port = free_port()
            cold, rss = _measure([sys.executable, str(base), str(port)], port, env, tmp)
            base_cold.append(cold)
            base_rss.append(rss)
        print(
            f"run {run + 1}: hub {hub_cold[-1]:.2f} s {hub_rss[-1] / 2**20:.1f} MB | "
            f"baseline {base_cold[-1]:.2f} s {base_rss[-1] / 2**20:.1f} MB",
            flush=True,
        )
    hc, hr = statistics.median(hub_cold), statistics.median(hub_rss) / 2**20
    bc, br = statistics.median(base_cold), statistics.median(base_rss) / 2**20
    print(f"hub serve      cold start to /readyz {hc:.2f} s   idle RSS {hr:.1f} MB")
    print(f"bare starlette cold start to /readyz {bc:.2f} s   idle RSS {br:.1f} MB")
    print(f"ratio hub/baseline: start {hc / bc:.2f}x, RSS {hr / br:.2f}x")
    print(
        f"goals: start < 2 s: {'met' if hc < 2 else 'MISSED'}; "
        f"RSS < 150 MB: {'met' if hr < 150 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
