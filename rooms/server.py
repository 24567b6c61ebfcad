"""``RoomServer``: the public API of the realtime core, and the wiring of its parts.

Data flow of one client update (docs/rooms.md has the whole picture):

1. decoded strictly (bad framing: 1002), applied to the room's Doc (undecodable: 1003),
2. the effective delta is encoded once and queued on every other local socket,
3. published on the bus once (other processes apply it with origin BUS and fan out locally),
4. queued for the store, which receives batches at most ``flush_interval`` later.

The parts, one concept each (docs/rooms.md, "Modules"), share one :class:`Runtime`:
:class:`Sessions` serves sockets, :class:`Registry` loads and unloads the live rooms,
:class:`Fanout` sends a change where it must go, :class:`Bridge` talks to the other processes
over the bus, :class:`EventStream` keeps the event stream in order, :class:`CredentialCloser`
closes sockets by credential key and :class:`Maintenance` runs the timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from pycrdt import Doc

from rooms import close_codes
from rooms.bridge import Bridge
from rooms.bus import Bus
from rooms.config import RoomConfig
from rooms.connection import Transport
from rooms.credentials import CredentialCloser
from rooms.events import EventStream
from rooms.fanout import Fanout
from rooms.hooks import ConfigurePayload, DestroyPayload, Extension, HookRunner
from rooms.maintenance import Maintenance
from rooms.presence import MemoryPresence
from rooms.registry import Registry
from rooms.room import RoomState
from rooms.runtime import Runtime
from rooms.sessions import Sessions
from rooms.store import DocumentStore
from rooms.types import (
    ConnectionContext,
    ConnectionKind,
    Event,
    PresenceLike,
    RequestInfo,
    Role,
    is_valid_room_id,
)

log = logging.getLogger(__name__)


# The close reason of a drain: stock clients reconnect after any 1xxx code (with backoff); ours
# read the hint and reconnect at once, to another process behind the load balancer.
RECONNECT_HINT = "server restarting; reconnect"


class RoomServer:
    def __init__(
        self,
        bus: Bus,
        store: DocumentStore,
        presence: PresenceLike | None = None,
        extensions: Sequence[Extension] = (),
        config: RoomConfig | None = None,
    ) -> None:
        self.runtime = Runtime(
            bus,
            store,
            presence if presence is not None else MemoryPresence(),
            config or RoomConfig(),
            HookRunner(list(extensions)),
        )
        self._fanout = Fanout(self.runtime)
        self._events = EventStream(self.runtime)
        self._bridge = Bridge(self.runtime, self._fanout, self._events)
        self._registry = Registry(self.runtime, self._fanout, self._bridge)
        self._credentials = CredentialCloser(self.runtime)
        self._sessions = Sessions(
            self.runtime, self._registry, self._fanout, self._events, self._credentials
        )
        self._maintenance = Maintenance(self.runtime, self._bridge)
        self._maintenance_task: asyncio.Task[None] | None = None
        self._started = False

    @property
    def bus(self) -> Bus:
        return self.runtime.bus

    @property
    def store(self) -> DocumentStore:
        return self.runtime.store

    @property
    def presence(self) -> PresenceLike:
        return self.runtime.presence

    @property
    def config(self) -> RoomConfig:
        return self.runtime.config

    @property
    def hooks(self) -> HookRunner:
        return self.runtime.hooks

    @property
    def instance_id(self) -> str:
        return self.runtime.instance_id

    @property
    def admissions_refused(self) -> int:
        """Sockets answered 1013 because too many handshakes were in progress (metrics)."""
        return self._sessions.admissions_refused

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await self.hooks.run("on_configure", ConfigurePayload(server=self, config=self.config))
        self.bus.on_reconnect(self.resync)
        await self._credentials.start()
        self._maintenance_task = asyncio.create_task(
            self._maintenance.run(), name="rooms-maintenance"
        )

    async def stop(self) -> None:
        """Close every socket (1001), persist and unload every room, then ``on_destroy``."""
        if self.runtime.stopping:
            return
        self.runtime.stopping = True
        if self._maintenance_task is not None:
            self._maintenance_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance_task
        await self._credentials.stop()
        for room in list(self.runtime.rooms.values()):
            for conn in room.connections:
                conn.close(close_codes.GOING_AWAY)
        await self._registry.unload_all()
        await self.runtime.drain()
        await self.hooks.notify("on_destroy", DestroyPayload(server=self))

    async def drain(self, reason: str = RECONNECT_HINT, *, within: float = 5.0) -> int:
        """Close every socket of this process with 1001 (going away) and ``reason``, and wait up
        to ``within`` seconds until the close frames are out. For a graceful shutdown once the
        process no longer accepts connections: clients reconnect (to another process behind the
        load balancer) and resync, while the rooms stay loaded until :meth:`stop` persists them.
        Returns how many sockets were closed."""
        closing = [conn for conn in list(self._credentials.live) if not conn.closing]
        for conn in closing:
            conn.close(close_codes.GOING_AWAY, reason)
        if closing:
            await asyncio.wait(
                [asyncio.ensure_future(conn.finish()) for conn in closing], timeout=within
            )
        return len(closing)

    def socket_counts(self) -> dict[str, int]:
        """Open sockets of this process by kind (``yjs``, ``events``), for metrics."""
        counts = {kind.value: 0 for kind in ConnectionKind}
        for conn in list(self._credentials.live):
            counts[conn.context.kind.value] += 1
        return counts

    async def __aenter__(self) -> RoomServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- rooms ------------------------------------------------------------------------------

    def is_loaded(self, room_id: str) -> bool:
        room = self.runtime.rooms.get(room_id)
        return room is not None and room.state is RoomState.READY

    def loaded_rooms(self) -> list[str]:
        return [rid for rid, room in self.runtime.rooms.items() if room.state is RoomState.READY]

    def local_connections(self, room_id: str) -> list[ConnectionContext]:
        room = self.runtime.rooms.get(room_id)
        return [conn.context for conn in room.connections] if room else []

    async def members(self, room_id: str) -> list[dict[str, Any]]:
        """Members (y-websocket sockets) of the room across every process."""
        return await self.presence.members(room_id)

    async def member_count(self, room_id: str) -> int:
        return await self.presence.count(room_id)

    @contextlib.asynccontextmanager
    async def direct(self, room_id: str) -> AsyncIterator[Doc[Any]]:
        """Server-side edits: ``async with server.direct(room_id) as doc: ...``.

        Edits count as origin LOCAL: fanned out, published and stored like a client's. The room
        stays loaded for the duration of the block."""
        if not is_valid_room_id(room_id):
            raise ValueError(f"invalid room id {room_id!r}")
        room = await self._registry.acquire(room_id)
        try:
            yield room.doc
        finally:
            try:
                await self._fanout.local(room)
            finally:
                self._registry.release(room)

    async def emit_event(
        self,
        room_id: str,
        event_type: str,
        data: Mapping[str, Any],
        *,
        persist: bool = True,
        connection: ConnectionContext | None = None,
    ) -> Event:
        """Append an event to the room's stream (seq from the store) and broadcast it to every
        event socket of the room on every process. ``on_room_event`` may ``Reject`` it."""
        return await self._events.emit(
            room_id, event_type, data, persist=persist, connection=connection
        )

    async def resync(self, room_id: str | None = None) -> None:
        """Reconcile with the store and re-announce state on the bus (what a bus reconnect
        triggers); for one room or all rooms loaded here."""
        rooms = self.runtime.rooms
        targets = [rooms[room_id]] if room_id in rooms else []
        if room_id is None:
            targets = list(rooms.values())
        for room in targets:
            if room.state is RoomState.READY:
                try:
                    await self._bridge.resync(room)
                except Exception:
                    log.exception("room resync failed", extra={"room": room.room_id})

    # --- sockets ----------------------------------------------------------------------------

    async def serve_yjs(self, transport: Transport, room_id: str, request: RequestInfo) -> None:
        """Serve one accepted y-websocket socket until it closes."""
        await self._sessions.serve(transport, room_id, request, ConnectionKind.YJS, None)

    async def serve_events(
        self, transport: Transport, room_id: str, request: RequestInfo, since: str | None = None
    ) -> None:
        """Serve one accepted event-stream socket; ``since`` is the raw ``?since=`` value."""
        await self._sessions.serve(transport, room_id, request, ConnectionKind.EVENTS, since)

    async def kick(
        self,
        room_id: str,
        *,
        user_id: str | None = None,
        connection_id: str | None = None,
        reason: str = "",
    ) -> int:
        """Close (4409) a user's or one connection's sockets in the room, on every process.
        Returns how many sockets of *this* process were closed."""
        if user_id is None and connection_id is None:
            raise ValueError("kick needs a user_id or a connection_id")
        data = {"action": "kick", "user_id": user_id, "connection_id": connection_id}
        data["reason"] = reason
        return self._bridge.control(room_id, data)

    async def set_role(self, room_id: str, user_id: str, role: Role | str) -> int:
        """Change the role of a user's open sockets in the room, on every process."""
        role = Role(role)
        return self._bridge.control(room_id, {"action": "role", "user_id": user_id, "role": role})

    async def close_room(self, room_id: str, reason: str = "") -> int:
        """Close (4410) every socket of the room, on every process."""
        return self._bridge.control(room_id, {"action": "close", "reason": reason})

    async def close_matching(
        self, keys: Iterable[str], code: int = close_codes.UNAUTHENTICATED, reason: str = ""
    ) -> int:
        """Close with ``code`` every socket whose ``context.credentials`` holds one of ``keys``,
        in every room, on every process (a control message on the bus). A socket whose
        authentication began before the close arrived is refused the same way when it finishes.
        Returns how many sockets of *this* process were closed."""
        return await self._credentials.close_matching(keys, code, reason)
