"""The live rooms of this process: loaded on first use, unloaded when idle after persisting.

Sockets and ``RoomServer.direct`` hold a reference (``acquire`` / ``release``); a room nobody
references is unloaded ``unload_delay`` later: its server-side edits are fanned out, the edits of
other processes not confirmed stored yet are adopted, everything is flushed and compacted, and
only then is it dropped (``before_unload_document`` / ``after_unload_document``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from rooms import close_codes
from rooms.bridge import Bridge
from rooms.fanout import Fanout
from rooms.hooks import AfterUnloadPayload, LoadDocumentPayload, Reject, UnloadPayload
from rooms.room import Room, RoomState, params_defaults
from rooms.runtime import Runtime

log = logging.getLogger(__name__)


class Registry:
    def __init__(self, runtime: Runtime, fanout: Fanout, bridge: Bridge) -> None:
        self._rt = runtime
        self._fanout = fanout
        self._bridge = bridge

    async def acquire(self, room_id: str) -> Room:
        """The live room, loading it if needed; holds a reference until ``release``."""
        rooms = self._rt.rooms
        while True:
            if self._rt.stopping:
                raise Reject(close_codes.GOING_AWAY)
            room = rooms.get(room_id)
            if room is None:
                return await self._create(room_id)
            if room.state in (RoomState.UNLOADING, RoomState.UNLOADED):
                await room.unloaded.wait()
                continue
            room.refs += 1
            if room.unload_handle is not None:
                room.unload_handle.cancel()
                room.unload_handle = None
            if room.state is RoomState.LOADING:
                try:
                    await asyncio.shield(room.ready)
                except BaseException:
                    room.refs -= 1
                    raise
            return room

    async def _create(self, room_id: str) -> Room:
        rt = self._rt
        room = Room(
            room_id,
            config=rt.config,
            store=rt.store,
            hooks=rt.hooks,
            instance_id=rt.instance_id,
            on_local_change=self._fanout.local_change,
            on_stored=self._fanout.stored,
        )
        rt.rooms[room_id] = room
        room.refs += 1
        try:
            await self._load(room)
        except BaseException as exc:
            room.refs -= 1
            await self._discard(room, exc)
            raise
        return room

    async def _load(self, room: Room) -> None:
        rt = self._rt
        # Subscribe FIRST, then read the store: whatever is published in between is buffered
        # and applied after the stored state (CRDT updates are idempotent, overlap is harmless).
        await self._bridge.subscribe(room)
        stored = await rt.store.load(room.room_id)
        for update in stored.all_updates:
            try:
                room.apply(update)
            except ValueError:
                log.error(
                    "skipping a stored update that cannot be applied", extra={"room": room.room_id}
                )
        room.uncompacted = len(stored.updates)
        room.event_floor = await rt.store.last_seq(room.room_id)
        if stored.is_empty and rt.config.default_params:
            params_defaults(room.doc, rt.config.default_params)
        await rt.hooks.run(
            "on_load_document", LoadDocumentPayload(room.room_id, room.doc, stored.is_empty)
        )
        await self._bridge.drain(room)
        room.state = RoomState.READY
        room.ready.set_result(None)
        await self._fanout.local(room)
        self._bridge.ask_peers(room)
        await rt.hooks.notify(
            "after_load_document", LoadDocumentPayload(room.room_id, room.doc, stored.is_empty)
        )

    async def _discard(self, room: Room, exc: BaseException) -> None:
        room.state = RoomState.UNLOADED
        self._forget(room)
        room.cancel_timers()
        await self._bridge.unsubscribe(room)
        if not room.ready.done():
            if isinstance(exc, Exception):
                room.ready.set_exception(exc)
            else:
                room.ready.set_exception(RuntimeError("room load interrupted"))
            room.ready.exception()  # mark retrieved: waiters may all be gone
        room.unloaded.set()

    def _forget(self, room: Room) -> None:
        if self._rt.rooms.get(room.room_id) is room:
            del self._rt.rooms[room.room_id]

    def release(self, room: Room) -> None:
        """Drop a reference; the last one schedules the unload ``unload_delay`` later."""
        room.refs -= 1
        if room.refs > 0 or room.state is not RoomState.READY or self._rt.stopping:
            return
        if room.unload_handle is not None:
            room.unload_handle.cancel()
        loop = asyncio.get_running_loop()
        room.unload_handle = loop.call_later(
            self._rt.config.unload_delay,
            lambda: self._rt.spawn(self._unload_if_idle(room), f"room-unload-{room.room_id}"),
        )

    async def _unload_if_idle(self, room: Room) -> None:
        room.unload_handle = None
        if room.refs > 0 or room.state is not RoomState.READY:
            return
        await self.unload(room)

    async def unload(self, room: Room) -> None:
        """Persist everything the room holds, then drop it (its sockets get 1001)."""
        room.state = RoomState.UNLOADING
        room.cancel_timers()
        hooks = self._rt.hooks
        try:
            await hooks.notify("before_unload_document", UnloadPayload(room.room_id, room.doc))
            await self._fanout.local(room)
            # Edits of other processes not confirmed yet: their writer may be dead, and once
            # this copy is gone nobody else may hold them. Storing a duplicate is harmless.
            room.adopt_unconfirmed(everything=True)
            await room.wait_flush_tasks()
            await self._flush_for_unload(room)
            # Still subscribed until here (so peers loading the room got answers); whatever
            # arrived meanwhile is stored too before the copy is dropped.
            await self._bridge.unsubscribe(room)
            room.adopt_unconfirmed(everything=True)
            if room.has_unsaved:
                await self._flush_for_unload(room)
            if room.uncompacted:
                await room.compact()
        finally:
            room.cancel_timers()
            await self._bridge.unsubscribe(room)
            room.state = RoomState.UNLOADED
            self._forget(room)
            room.unloaded.set()
            for conn in room.connections:
                conn.close(close_codes.GOING_AWAY)
            await hooks.notify("after_unload_document", AfterUnloadPayload(room.room_id))

    async def _flush_for_unload(self, room: Room) -> None:
        for attempt in range(3):
            if await room.flush():
                return
            await asyncio.sleep(self._rt.config.flush_interval * (attempt + 1))
        log.error("unloading room with unsaved updates", extra={"room": room.room_id})

    async def unload_all(self) -> None:
        """For ``RoomServer.stop``: wait for loads in flight, then unload every room."""
        for room in list(self._rt.rooms.values()):
            if room.state is RoomState.LOADING:
                with contextlib.suppress(Exception):
                    await asyncio.shield(room.ready)
            if room.state is RoomState.READY:
                await self.unload(room)
            elif room.state is RoomState.UNLOADING:
                await room.unloaded.wait()
