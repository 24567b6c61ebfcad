"""Start and stop the topology: moto, the hub processes, then nginx in front of them.

``up`` records every process in ``run_dir/state.json`` as soon as it is started, so a start that
fails half-way is stopped by the same record (by ``up`` itself, or by a later ``down``).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from scale import nginx
from scale.plan import Plan, hub_env, hub_variables, secret_key
from scale.procs import ProcessRecord, load, save, spawn, stop

HUB_VARIABLES = "hub-env.json"  # what restarting a hub process later needs
READY_TIMEOUT = 90.0  # three hub processes starting at once on a busy two-core machine


class TopologyError(RuntimeError):
    pass


@dataclass(frozen=True)
class Running:
    run_dir: Path
    url: str
    processes: tuple[ProcessRecord, ...]

    def named(self, name: str) -> ProcessRecord:
        for record in self.processes:
            if record.name == name:
                return record
        raise KeyError(name)

    @property
    def web(self) -> list[ProcessRecord]:
        return [r for r in self.processes if r.name.startswith("web-")]

    @property
    def workers(self) -> list[ProcessRecord]:
        return [r for r in self.processes if r.name.startswith("worker-")]

    def web_at(self, upstream: str) -> str:
        """The web process named by nginx's ``$upstream_addr`` (``127.0.0.1:PORT``; after a
        failover nginx lists every address it tried, the last one answered)."""
        port = int(upstream.split(",")[-1].strip().rsplit(":", 1)[1])
        for record in self.web:
            if record.port == port:
                return record.name
        raise KeyError(upstream)


def _save(plan: Plan, records: list[ProcessRecord]) -> None:
    """Records the processes and what restarting one of them later needs."""
    save(plan.run_dir, records, url=plan.url, port=plan.port, python=plan.python)


def _tail(path: str, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(what: str, ready: Callable[[], bool], records: Sequence[ProcessRecord]) -> None:
    """Polls ``ready`` until it holds; fails early, with the logs, if a process died."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready():
        dead = [r for r in records if not r.alive]
        if dead:
            logs = "\n".join(f"--- {r.name} ({r.log}):\n{_tail(r.log)}" for r in dead)
            raise TopologyError(f"{what}: {', '.join(r.name for r in dead)} exited\n{logs}")
        if time.monotonic() > deadline:
            raise TopologyError(f"{what}: not ready within {READY_TIMEOUT:.0f} s")
        time.sleep(0.1)


def answers(url: str, status: int = 200) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == status
        except httpx.HTTPError:
            return False

    return check


def _migrate(plan: Plan, env: dict[str, str]) -> None:
    done = subprocess.run(
        [plan.python, "-m", "hub.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise TopologyError(f"hub migrate failed:\n{done.stdout}{done.stderr}")


def _start_hubs(plan: Plan, env: dict[str, str], records: list[ProcessRecord]) -> None:
    hub = [plan.python, "-m", "hub.cli"]
    for n, port in enumerate(plan.ports_for_web(), start=1):
        serve = [*hub, "serve", "--host", "127.0.0.1", "--port", str(port)]
        records.append(spawn(f"web-{n}", serve, env, plan.run_dir, port))
        _save(plan, records)
    for n in range(1, plan.workers + 1):
        records.append(spawn(f"worker-{n}", [*hub, "worker"], env, plan.run_dir))
        _save(plan, records)


def _start(plan: Plan, records: list[ProcessRecord]) -> None:
    key = secret_key(plan.run_dir)
    env = hub_env(plan, key)
    variables = plan.run_dir / HUB_VARIABLES
    variables.write_text(json.dumps(hub_variables(plan, key)))
    variables.chmod(0o600)  # the secret key and the S3 credentials
    if plan.migrate:
        _migrate(plan, env)
    moto = [plan.python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(plan.moto_port)]
    records.append(spawn("moto", moto, env, plan.run_dir, plan.moto_port))
    _save(plan, records)
    wait_until("moto", answers(f"{plan.moto_url}/moto-api/"), records)
    _start_hubs(plan, env, records)
    for record in [r for r in records if r.name.startswith("web-")]:
        wait_until(record.name, answers(f"http://127.0.0.1:{record.port}/readyz"), records)
    binary = nginx.binary(plan.nginx)
    if binary is None:
        raise TopologyError("nginx is not installed (apt-get install nginx)")
    web_ports = [r.port for r in records if r.port is not None and r.name.startswith("web-")]
    nginx.write_config(plan.run_dir, plan.port, web_ports)
    records.append(spawn("nginx", nginx.argv(binary, plan.run_dir), env, plan.run_dir, plan.port))
    _save(plan, records)
    wait_until("nginx", answers(f"{plan.url}/readyz"), records)


def up(plan: Plan) -> Running:
    """Starts the topology of ``plan`` and returns once nginx answers ``/readyz`` with 200 (every
    web process is ready by then). On failure it stops what it started and raises."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    running, _ = load(plan.run_dir)
    if any(r.alive for r in running):
        raise TopologyError(f"already running from {plan.run_dir}; stop it first (scale down)")
    records: list[ProcessRecord] = []
    try:
        _start(plan, records)
    except BaseException:
        stop(records, grace=5)
        (plan.run_dir / "state.json").unlink(missing_ok=True)
        raise
    return Running(plan.run_dir, plan.url, tuple(records))


def running(run_dir: Path) -> Running | None:
    """The topology recorded in ``run_dir``, if any of it is alive."""
    records, state = load(run_dir)
    if not any(r.alive for r in records):
        return None
    return Running(run_dir, str(state.get("url", "")), tuple(records))


def down(run_dir: Path, grace: float = 15.0) -> list[ProcessRecord]:
    """Stops the processes recorded in ``run_dir`` and nothing else: nginx first (no new
    traffic), then the hub processes together (SIGTERM: sockets drain, workers hand their jobs
    back), then moto. Returns the records that were stopped."""
    records, _ = load(run_dir)
    order = [
        [r for r in records if r.name == "nginx"],
        [r for r in records if r.name.startswith(("web-", "worker-"))],
        [r for r in records if r.name == "moto"],
    ]
    for group in order:
        stop(group, grace)
    (run_dir / "state.json").unlink(missing_ok=True)
    return records
