"""Room clients for the scaled topology that behave like stock y-websocket clients when their
socket ends: they reconnect (through nginx, so to whichever process it picks) and resync.

A :class:`~tests.rooms.ykit.YClient` already resyncs by state vector on every connect: it sends
its sync step 1 and answers the server's with everything the server lacks, which includes the
edits it made while it was cut off. What it lacks is the retry loop; :class:`Reconnecting` adds
it, with y-websocket's backoff (100 ms doubling, at most 2.5 s), and notes where each socket
landed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from tests.rooms.ykit import YClient
from tests.scale.topology import Landings

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 2.5


@dataclass
class Reconnecting:
    client: YClient
    landings: Landings
    who: str
    closes: list[int] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False

    @property
    def text(self) -> str:
        return self.client.text

    @property
    def landed(self) -> list[str]:
        """The web process of each socket, in order."""
        return self.landings.seen[self.who]

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._watch(), name=f"reconnect-{self.who}")

    async def _connect(self) -> None:
        await self.client.connect()
        self.landings.socket(self.who, self.client.ws)
        await self.client.wait_synced(timeout=15)

    async def _watch(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            await self.client.closed.wait()
            if self._stopping:
                return
            if self.client.close_code is not None:
                self.closes.append(self.client.close_code)
            await asyncio.sleep(delay)  # y-websocket's backoff, not a wait for a condition
            try:
                await self._connect()
            except Exception:
                delay = min(BACKOFF_MAX, delay * 2)
                self.client.closed.set()  # try again
                continue
            delay = BACKOFF_FIRST

    def give_up(self) -> None:
        """Do not reconnect after the socket ends: this person has left for good."""
        self._stopping = True

    async def stop(self) -> None:
        self._stopping = True
        await self.client.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def type_everywhere(clients: list[Reconnecting], tag: str) -> list[str]:
    """Each client types its own marker (``<{tag}NNN>``) at the end; returns the markers."""
    markers = [f"<{tag}{n:03d}>" for n in range(len(clients))]
    for client, marker in zip(clients, markers, strict=True):
        client.client.insert(len(client.text), marker)
    return markers


def everyone_has(clients: list[Reconnecting], markers: list[str]) -> bool:
    """Every client shows every marker."""
    return all(all(m in c.text for m in markers) for c in clients)
