"""Small helpers shared by tests (no fixtures here; those live in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

PG_ADMIN_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def service_missing(name: str, reason: str) -> None:
    """Skip loudly locally; fail under CI=true, where every service must be there."""
    message = f"{name} is not reachable ({reason}); its tests cannot run"
    if IN_CI:
        pytest.fail(f"{message} and CI=true requires it.", pytrace=False)
    pytest.skip(f"SKIPPED LOUDLY: {message}.")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def eventually(
    predicate: Callable[[], Any | Awaitable[Any]],
    timeout: float = 5.0,
    interval: float = 0.02,
    message: str = "condition",
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout} s (last: {last!r})")
        await asyncio.sleep(interval)


BOTH_DATABASES = pytest.mark.parametrize(
    "settings", ["sqlite", "postgres"], indirect=True, ids=["sqlite", "postgres"]
)


class _Startable(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


_S = TypeVar("_S", bound=_Startable)


@contextlib.asynccontextmanager
async def started(build: Callable[..., _S]) -> AsyncIterator[Callable[..., Awaitable[_S]]]:
    """Yields ``make(**options)``, which builds (``build(**options)``) and starts a bus (or any
    start/stop service); every one it made is stopped on the way out."""
    made: list[_S] = []

    async def make(**options: Any) -> _S:
        service = build(**options)
        await service.start()
        made.append(service)
        return service

    try:
        yield make
    finally:
        for service in made:
            await service.stop()
