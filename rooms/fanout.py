"""Where a change goes once a room applied it: the other local sockets, the bus, the hooks.

Document deltas and awareness changes from a client (origin ``CONNECTION``) or a server-side edit
(``LOCAL``) are published on the bus and fanned out locally; those from the bus (``BUS``) or the
store (``STORE``) are only fanned out, never re-published (docs/rooms.md, "Data flow").
"""

from __future__ import annotations

import logging

from rooms import wire
from rooms.awareness import AwarenessChanges
from rooms.connection import Connection
from rooms.hooks import AwarenessPayload, ChangePayload
from rooms.protocol import encode_awareness, encode_awareness_entries, encode_update
from rooms.room import Room, RoomState
from rooms.runtime import Runtime
from rooms.types import Origin

log = logging.getLogger(__name__)


class Fanout:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def change(
        self, room: Room, delta: bytes, origin: Origin, source: Connection | None
    ) -> None:
        """Send a document delta the room applied to everyone who does not have it yet."""
        rt = self._rt
        if origin is Origin.CONNECTION or origin is Origin.LOCAL:
            # Bus first: the other processes' recipients wait on Redis, ours only on a local
            # write. The publish is queued, never awaited: the reading socket does not pay a
            # Redis round trip per update (order per channel is kept by the bus' FIFO). The
            # record number lets the others drop their copy once we say it is stored.
            author = source.context.user_id if source is not None else None
            record = room.record(delta, author)
            rt.publish(
                rt.doc_channel(room.room_id),
                wire.encode_update(delta, writer=room.writer, record=record, author=author),
            )
        # Only queues (the writer tasks write): the publisher task, woken first, runs first.
        room.broadcast(encode_update(delta), exclude=source)
        if rt.hooks.has("on_change"):
            ctx = source.context if source is not None else None
            await rt.hooks.notify(
                "on_change", ChangePayload(room.room_id, room.doc, delta, origin, ctx)
            )

    async def awareness(
        self, room: Room, changes: AwarenessChanges, source: Connection | None, origin: Origin
    ) -> None:
        """Send accepted awareness entries to the room's other sockets (and the bus)."""
        rt = self._rt
        inner = encode_awareness_entries(changes.accepted)
        room.broadcast(encode_awareness(inner), exclude=source, echoed=True)
        if origin is not Origin.BUS:
            rt.publish(rt.doc_channel(room.room_id), wire.encode_awareness(inner))
        if rt.hooks.has("on_awareness_update"):
            await rt.hooks.notify(
                "on_awareness_update",
                AwarenessPayload(
                    room.room_id,
                    source.context if source is not None else None,
                    origin,
                    tuple(changes.added),
                    tuple(changes.updated),
                    tuple(changes.removed),
                ),
            )

    def stored(self, room: Room, record: int) -> None:
        """``Room``'s ``on_stored``: the other processes holding our edits up to ``record`` may
        drop their copies."""
        self._rt.publish(
            self._rt.doc_channel(room.room_id), wire.encode_stored(room.writer, record)
        )

    def local_change(self, room: Room) -> None:
        """``Room``'s ``on_local_change``, called from inside a pycrdt observer: only schedule,
        never touch the doc here."""
        self._rt.spawn(self.local(room), f"room-local-{room.room_id}")

    async def local(self, room: Room) -> None:
        """Fan out the server-side edits made since the last call (origin ``LOCAL``)."""
        delta = room.take_local_changes()
        if delta is None:
            return
        if room.state is RoomState.UNLOADED:
            log.warning("server-side edit after unload dropped", extra={"room": room.room_id})
            return
        await self.change(room, delta, Origin.LOCAL, None)
