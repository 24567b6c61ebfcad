"""In-process wake-ups between the job API and the workers of the same process.

Whoever runs a worker owns one :class:`QueueSignals` and passes it explicitly: to the
:class:`~hub.generation.worker.Worker` (which subscribes while it runs) and to the service calls
that enqueue, resume or cancel (``signals=``), which fire it after commit. There is no
process-wide instance: a call without ``signals`` simply nudges nobody.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable


class QueueSignals:
    """Nudges so a worker in the same process reacts at once to an enqueue or a cancel instead
    of at its next poll. Other processes find out by polling; nothing depends on these for
    correctness."""

    def __init__(self) -> None:
        self._wake: list[Callable[[], None]] = []
        self._cancel: list[Callable[[str], None]] = []

    def subscribe(self, wake: Callable[[], None], cancel: Callable[[str], None]) -> None:
        self._wake.append(wake)
        self._cancel.append(cancel)

    def unsubscribe(self, wake: Callable[[], None], cancel: Callable[[str], None]) -> None:
        if wake in self._wake:
            self._wake.remove(wake)
        if cancel in self._cancel:
            self._cancel.remove(cancel)

    async def enqueued(self) -> None:
        for wake in list(self._wake):
            wake()

    def canceled(self, job_id: str) -> Callable[[], Awaitable[None]]:
        async def notify() -> None:
            for cancel in list(self._cancel):
                cancel(job_id)

        return notify
