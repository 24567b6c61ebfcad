"""A private ``redis-server`` on a free port, for tests that stop, restart or reconfigure Redis.

Never point destructive tests at the shared Redis: start one of these instead. It keeps no data
on disk (``--save "" --appendonly no``) and dies with the test.

    with RedisServer() as server:          # started, PING answered
        bus = RedisBus(server.url)
        await server.astop()               # outage (the port stays reserved for us)
        await server.astart()              # same port, empty dataset

``require_redis_server()`` and ``require_shared_redis()`` skip loudly when the binary or the
shared service is missing, and fail when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from tests.helpers import REDIS_TEST_URL, free_port, port_open, service_missing
from tests.processes import stop_process


def require_redis_server() -> str:
    """Path of the ``redis-server`` binary (skip loudly without it; fail under CI)."""
    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server binary", "not on PATH; install the redis-server package")
    assert binary is not None
    return binary


def require_shared_redis() -> str:
    """URL of the shared Redis service (``HUB_TEST_REDIS_URL``), checked reachable."""
    parts = urlsplit(REDIS_TEST_URL)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if not port_open(host, port):
        service_missing(f"Redis at {host}:{port}", "connection refused")
    return REDIS_TEST_URL


def _answers(port: int, timeout: float = 0.2) -> bool:
    """True when something on ``port`` speaks RESP (``+PONG``, or ``-NOAUTH`` with a password)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64)[:1] in (b"+", b"-")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process; ``stop()``/``start()`` keep the same port so URLs survive."""

    def __init__(self, *, password: str | None = None, port: int | None = None) -> None:
        self.binary = require_redis_server()
        self.password = password
        self.port = port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="hub-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._dir),
            "--loglevel",
            "warning",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self._process.returncode} on port {self.port}"
                    " (port taken?)"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Graceful stop (SIGTERM): clients see their connections closed."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, timeout=5)

    def kill(self) -> None:
        """Crash (SIGKILL): no shutdown sequence at all."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)

    # Async variants keep the event loop (and the buses under test) running meanwhile.
    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
