"""What every part of a :class:`rooms.server.RoomServer` shares.

The server is split by concept (docs/rooms.md, "Modules"): sessions serve sockets, the registry
loads and unloads rooms, the bridge talks to the other processes, maintenance runs the timers.
They all reach the same bus, store, presence, config and hooks, the same map of live rooms and
the same background tasks through one :class:`Runtime`, and publish on the bus one way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from rooms.bus import Bus, BusUnavailable
from rooms.config import RoomConfig
from rooms.hooks import HookRunner
from rooms.room import Room
from rooms.store import DocumentStore
from rooms.types import PresenceLike

log = logging.getLogger(__name__)


def connections_channel(channel_prefix: str) -> str:
    """The bus channel on which every room server with ``channel_prefix`` listens for
    ``RoomServer.close_matching``."""
    # Room ids start with a letter or digit, so this never names a room's channel.
    return f"{channel_prefix}:connections"


class Runtime:
    def __init__(
        self,
        bus: Bus,
        store: DocumentStore,
        presence: PresenceLike,
        config: RoomConfig,
        hooks: HookRunner,
    ) -> None:
        self.bus = bus
        self.store = store
        self.presence = presence
        self.config = config
        self.hooks = hooks
        # The live rooms of this process by id. Only the registry (rooms/registry.py) adds and
        # removes them; everything else looks them up.
        self.rooms: dict[str, Room] = {}
        self.stopping = False  # set once by RoomServer.stop(): no new sockets, loads or unloads
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failed_publishes = 0  # since the last publish that worked (logged once)

    @property
    def instance_id(self) -> str:
        return self.bus.instance_id

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` in the background; ``drain`` waits for it, a failure is logged."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("room background task failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait until no background task is left (those still running may spawn more)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def publish(self, channel: str, payload: bytes) -> None:
        # Every publish of the room core goes through the bus' one queue (``publish_nowait``):
        # mixing awaited and queued publishes could reorder a channel's messages.
        try:
            self.bus.publish_nowait(channel, payload)
        except Exception as exc:
            self.publish_failed(channel, exc)
        else:
            self.publish_worked()

    def publish_failed(self, channel: str, exc: Exception) -> None:
        # While the bus is down every publish fails: say so once per outage, not per message
        # (a traceback only for what is not an outage). The resync after the bus reconnects
        # heals what the messages would have carried.
        self._failed_publishes += 1
        if self._failed_publishes == 1:
            log.warning(
                "bus publish failed (%s); further failures are not logged until it works again",
                exc,
                extra={"channel": channel},
                exc_info=not isinstance(exc, BusUnavailable),
            )

    def publish_worked(self) -> None:
        if self._failed_publishes:
            log.warning(
                "bus publish works again (%d publishes failed meanwhile)", self._failed_publishes
            )
            self._failed_publishes = 0

    def doc_channel(self, room_id: str) -> str:
        return f"{self.config.channel_prefix}{room_id}"

    def events_channel(self, room_id: str) -> str:
        return f"{self.config.channel_prefix}{room_id}:events"

    def connections_channel(self) -> str:
        return connections_channel(self.config.channel_prefix)
