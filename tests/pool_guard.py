"""Catch a task that holds a pooled database connection while it takes another.

A request that holds a connection and waits for a second one deadlocks once every connection
of the pool is held by requests doing the same (issue #8: room jobs hung for the pool timeout
and answered 500). The guard listens to every pool's checkout and checkin and records a
checkout by an asyncio task that already holds a connection; the autouse fixture in
``tests/conftest.py`` fails the test that did it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import greenlet  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.pool import Pool


def _where() -> str:
    """Our own frames of the caller (the checkout runs in SQLAlchemy's greenlet; the async code
    that asked for the connection is on the parent greenlet's stack)."""
    current = greenlet.getcurrent()
    frame = current.parent.gr_frame if current.parent is not None else None
    lines = []
    while frame is not None:
        name = frame.f_code.co_filename
        if "site-packages" not in name and "/lib/python" not in name:
            lines.append(f"  {name}:{frame.f_lineno} in {frame.f_code.co_name}")
        frame = frame.f_back
    return "\n".join(reversed(lines))


class NestedCheckoutGuard:
    def __init__(self) -> None:
        self._holder: dict[int, asyncio.Task[Any]] = {}  # id(connection record) -> task
        self.violations: list[str] = []

    @staticmethod
    def _task() -> asyncio.Task[Any] | None:
        try:
            return asyncio.current_task()
        except RuntimeError:  # no running loop: a synchronous caller (migrations, fixtures)
            return None

    def checkout(self, _dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        task = self._task()
        if task is None:
            return
        if any(holder is task for holder in self._holder.values()):
            self.violations.append(f"task {task.get_name()} took a second connection:\n{_where()}")
        self._holder[id(record)] = task

    def checkin(self, _dbapi_conn: Any, record: Any) -> None:
        self._holder.pop(id(record), None)

    def detach(self, _dbapi_conn: Any, record: Any) -> None:
        self._holder.pop(id(record), None)


@contextmanager
def nested_checkout_guard() -> Iterator[NestedCheckoutGuard]:
    guard = NestedCheckoutGuard()
    hooks: dict[str, Callable[..., None]] = {
        "checkout": guard.checkout,
        "checkin": guard.checkin,
        "detach": guard.detach,
    }
    for name, fn in hooks.items():
        event.listen(Pool, name, fn)
    try:
        yield guard
    finally:
        for name, fn in hooks.items():
            event.remove(Pool, name, fn)
