"""Restart one web process without failing a request: drain, stop, start, undrain.

The procedure of docs/deploy.md ("Zero-downtime restarts"), runnable against the topology:

1. mark the process ``down`` in nginx and reload it (graceful: nginx sends it no new request,
   requests in flight finish, its WebSockets stay until the hub closes them);
2. SIGTERM it: ``hub serve`` closes its room sockets with 1001 and a reconnect hint (stock
   clients reconnect, through nginx, to the others, and resync), uvicorn finishes what is in
   flight within ``HUB_GRACEFUL_SHUTDOWN_SECONDS`` and the rooms flush to the database;
3. start it again on the same port, wait for ``/readyz``, and put it back in nginx.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Collection
from pathlib import Path

import httpx

from scale import nginx
from scale.procs import ProcessRecord, load, save, signal_record, spawn, stop
from scale.topology import HUB_VARIABLES, TopologyError, answers, wait_until

SETTLE_SECONDS = 15.0


def _reload(run_dir: Path, records: list[ProcessRecord], down: Collection[int]) -> None:
    """Rewrites nginx.conf with ``down`` drained and reloads nginx (SIGHUP to its master), then
    waits until fresh connections are served by the new configuration."""
    _, state = load(run_dir)
    port = int(str(state["port"]))
    web = sorted((r for r in records if r.name.startswith("web-")), key=lambda r: r.name)
    nginx.write_config(run_dir, port, [r.port for r in web if r.port], down)
    master = next(r for r in records if r.name == "nginx")
    if not signal_record(master, signal.SIGHUP):
        raise TopologyError("nginx is not running")
    expected = {r.port for r in web if r.port not in down}
    deadline = time.monotonic() + SETTLE_SECONDS
    while _upstreams(f"http://127.0.0.1:{port}/healthz", 2 * len(web)) != expected:
        if time.monotonic() > deadline:
            raise TopologyError("nginx did not take the new configuration")
        time.sleep(0.1)


def _upstreams(url: str, tries: int) -> set[int]:
    """The ports of the web processes that answer ``tries`` requests on fresh connections."""
    seen = set()
    for _ in range(tries):
        try:
            with httpx.Client() as client:  # a new connection: an old worker cannot take it
                upstream = client.get(url, timeout=2).headers.get(nginx.UPSTREAM_HEADER, "")
        except httpx.HTTPError:
            continue
        if upstream:
            seen.add(int(upstream.split(",")[-1].rsplit(":", 1)[1]))
    return seen


def restart_web(run_dir: Path, name: str, grace: float = 15.0) -> ProcessRecord:
    """Restarts web process ``name`` of the topology in ``run_dir``; returns its new record."""
    records, state = load(run_dir)
    old = next((r for r in records if r.name == name and r.name.startswith("web-")), None)
    if old is None or old.port is None:
        raise TopologyError(f"no web process {name!r} in {run_dir}")
    _reload(run_dir, records, down={old.port})
    stop([old], grace)
    env = {**os.environ, **json.loads((run_dir / HUB_VARIABLES).read_text())}
    serve = [str(state["python"]), "-m", "hub.cli", "serve", "--host", "127.0.0.1"]
    new = spawn(name, [*serve, "--port", str(old.port)], env, run_dir, old.port)
    records = [new if r.name == name else r for r in records]
    save(run_dir, records, **state)
    wait_until(name, answers(f"http://127.0.0.1:{old.port}/readyz"), [new])
    _reload(run_dir, records, down=())
    return new
