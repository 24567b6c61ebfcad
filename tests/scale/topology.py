"""The ``make scale`` topology (``scale/``) for tests: nginx, web and worker processes, moto, on the
session's scratch Postgres database and a Redis of the test's choosing, in ``tmp_path``.

    async with scaled_hub(tmp_path, pg_database_url, redis.url, web=3, workers=2) as hub:
        hub.url                                 # nginx
        hub.named("web-2")                      # a ProcessRecord: pid, port, log
        landings = Landings(hub)                # where each client's requests and sockets landed

The database is emptied when the topology stops (``truncate_postgres``), as after any test that
used the session's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from hub.settings import Settings
from scale import nginx
from scale.plan import Plan
from scale.procs import ProcessRecord, signal_record, wait_gone
from scale.topology import Running, down, up
from tests.databases import truncate_postgres
from tests.helpers import free_port, service_missing

# Fast job timers (a job of a few steps takes well under a second) and logs a person can read.
TEST_ENV: dict[str, str] = {
    "HUB_ENVIRONMENT": "test",
    "HUB_LOG_LEVEL": "INFO",
    "HUB_OFFLINE_STEP_DELAY": "0.02",
    "HUB_JOB_POLL_INTERVAL": "0.05",
    "HUB_JOB_LEASE_SECONDS": "3",
    "HUB_JOB_RETRY_BASE_SECONDS": "0.2",
    "HUB_JOB_RETRY_MAX_SECONDS": "1",
    "HUB_GRACEFUL_SHUTDOWN_SECONDS": "3",
    "HUB_ROOM_STORE_FLUSH_MS": "100",
}


def require_nginx() -> str:
    binary = nginx.binary()
    if binary is None:
        service_missing("nginx", "not installed (apt-get install -y nginx)")
        raise AssertionError("unreachable")  # service_missing always raises
    return binary


@contextlib.asynccontextmanager
async def scaled_hub(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    *,
    web: int = 3,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    direct_database_url: str | None = None,
    **plan: Any,
) -> AsyncIterator[Running]:
    """The topology on a fresh port and key prefix; stopped (``scale.topology.down``) on exit.
    ``database_url`` must be migrated already (the session's scratch database is). When the
    processes reach the database through a fault proxy, ``direct_database_url`` is the way
    around it, for emptying the database afterwards whatever state the proxy is in."""
    require_nginx()
    run_dir = tmp_path / "scale"
    settings = Plan(
        run_dir=run_dir,
        database_url=database_url,
        redis_url=redis_url,
        port=free_port(),
        web=web,
        workers=workers,
        redis_key_prefix=f"test-{uuid.uuid4().hex[:8]}:",
        migrate=False,
        env={**TEST_ENV, **(env or {})},
        **plan,
    )
    try:
        # `up` and `down` block; in a thread, this loop keeps serving what the processes may
        # need from it meanwhile (the fault tests' TCP proxies).
        running = await asyncio.to_thread(up, settings)
        try:
            yield running
        finally:
            await asyncio.to_thread(down, run_dir, 5.0)
    finally:
        direct = direct_database_url or database_url
        await truncate_postgres(Settings(database_url=direct, auto_migrate=False))


async def kill(record: ProcessRecord) -> None:
    """SIGKILL one process of the topology and wait until it is gone (no shutdown at all)."""
    assert signal_record(record, signal.SIGKILL), f"{record.name} was not running"
    assert await asyncio.to_thread(wait_gone, [record], 10) == []


class Landings:
    """Which web process served each client's requests and sockets, from nginx's
    ``X-Upstream`` header (HTTP answers and WebSocket handshakes) and, for clients whose
    handshake we cannot read (the stock Node client), from nginx's access log by request id."""

    def __init__(self, hub: Running) -> None:
        self.hub = hub
        self.seen: dict[str, list[str]] = defaultdict(list)

    def note(self, who: str, upstream: str | None) -> str:
        assert upstream, f"{who}: nginx named no upstream"
        name = self.hub.web_at(upstream)
        self.seen[who].append(name)
        return name

    def client(self, who: str, **options: Any) -> httpx.AsyncClient:
        """An HTTP client to nginx whose every answer is noted under ``who``."""

        async def hook(response: httpx.Response) -> None:
            self.note(who, response.headers.get(nginx.UPSTREAM_HEADER))

        options.setdefault("timeout", 30)
        return httpx.AsyncClient(base_url=self.hub.url, event_hooks={"response": [hook]}, **options)

    def socket(self, who: str, ws: ClientConnection | None) -> str:
        assert ws is not None
        assert ws.response is not None
        return self.note(who, ws.response.headers.get(nginx.UPSTREAM_HEADER))

    def from_access_log(self, who: str, request_id: str) -> list[str]:
        """Notes the web process of every request nginx logged with ``X-Request-ID:
        request_id`` (a socket is logged when it ends)."""
        log = (self.hub.run_dir / "nginx-access.log").read_text()
        pattern = re.compile(rf'request_id={re.escape(request_id)} upstream="([^"]*)"')
        return [self.note(who, match) for match in pattern.findall(log)]

    def of(self, who: str) -> set[str]:
        return set(self.seen[who])

    @property
    def everyone(self) -> set[str]:
        return {name for names in self.seen.values() for name in names}


async def stored_prompt(hub: Running, slug: str, token: str) -> str:
    """The room's prompt as the API gives it through nginx (the store's, or a live copy)."""
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        answer = await http.get(
            f"/api/v1/rooms/{slug}/document", headers={"authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 200, answer.text
    prompt: str = answer.json()["prompt"]
    return prompt
