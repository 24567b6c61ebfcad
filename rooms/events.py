"""The room event stream across processes: emit, deliver in seq order, fill gaps.

Stored events carry the seq of the stored event before them (``Event.prev``): a room delivers
them in seq order and notices one the bus lost (an outage, another process' failed publish), then
fills the gap from the store; after a reconnect it replays from the highest seq up to which it
delivered *everything* (``Room.event_floor``), not from the highest it saw. Unstored events
(``persist=False``) have no predecessor and are delivered at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from rooms import wire
from rooms.bus import BusMessage, Handler
from rooms.hooks import RoomEventPayload
from rooms.protocol import encode_json
from rooms.room import MAX_HELD_EVENTS, Room, RoomState
from rooms.runtime import Runtime
from rooms.types import ConnectionContext, Event, is_valid_room_id

log = logging.getLogger(__name__)


class EventStream:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def emit(
        self,
        room_id: str,
        event_type: str,
        data: Mapping[str, Any],
        *,
        persist: bool = True,
        connection: ConnectionContext | None = None,
    ) -> Event:
        """``RoomServer.emit_event``: append (seq from the store), deliver here, publish."""
        if not is_valid_room_id(room_id):
            raise ValueError(f"invalid room id {room_id!r}")
        if not event_type or len(event_type) > 64:
            raise ValueError("event type must be 1..64 characters")
        payload_data = dict(data)
        try:
            json.dumps(payload_data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"event data must be JSON-serialisable: {exc}") from exc
        rt = self._rt
        await rt.hooks.run(
            "on_room_event",
            RoomEventPayload(room_id, event_type, payload_data, persist, connection),
        )
        event = await rt.store.append_event(room_id, event_type, payload_data, persist=persist)
        room = rt.rooms.get(room_id)
        if room is not None and room.state is RoomState.READY:
            room.deliver_event(event)
            self.watch_gap(room)
        rt.publish(rt.events_channel(room_id), wire.encode_event(event))
        return event

    def handler(self, room: Room) -> Handler:
        """The bus handler of the room's events channel."""

        async def handle(message: BusMessage) -> None:
            if room.state is not RoomState.READY:
                # Event sockets that join later replay from the store; a stored event missed
                # here is noticed by the next one's ``prev`` and fetched from the store.
                return
            try:
                event = wire.decode_event(message.payload)
            except (ValueError, KeyError, TypeError):
                log.warning("dropping malformed bus event", extra={"room": room.room_id})
                return
            if isinstance(event, int):
                # A peer's "stored events up to here were published": check we have them all.
                if event > room.event_floor:
                    self.watch_gap(room, force=True)
                return
            room.deliver_event(event)
            self.watch_gap(room)

        return handle

    def watch_gap(self, room: Room, *, force: bool = False) -> None:
        """Fill the room's event gap from the store soon, unless the bus closes it first."""
        if room.fill_handle is not None or not (force or room.held_events):
            return
        delay = self._rt.config.event_gap_wait
        if len(room.held_events) > MAX_HELD_EVENTS:
            delay = 0.0

        def fill() -> None:
            room.fill_handle = None
            self._rt.spawn(self.fill(room), f"room-events-fill-{room.room_id}")

        room.fill_handle = asyncio.get_running_loop().call_later(delay, fill)

    async def fill(self, room: Room) -> None:
        """Deliver, in seq order, every stored event above ``room.event_floor`` (a ``resync``
        to the event sockets when the store cannot return them all)."""
        if room.fill_handle is not None:
            room.fill_handle.cancel()
            room.fill_handle = None
        store = self._rt.store
        async with room.fill_lock:
            if room.state is not RoomState.READY:
                return
            if not room.events:
                # Nobody to deliver to; sockets that join replay from the store themselves.
                if room.held_events:
                    room.skip_events(max(room.held_events))
                return
            waiting = set(room.held_events)
            events = await store.events_since(
                room.room_id, room.event_floor, limit=self._rt.config.replay_limit
            )
            if events is None:
                last = await store.last_seq(room.room_id)
                room.skip_events(last, encode_json({"type": "resync", "seq": last}))
            else:
                for event in events:
                    room.deliver_event(event)
                # Held before the query, so committed before it: if the store did not close
                # their gap, nothing will (their predecessor was trimmed). Deliver them.
                stuck = [seq for seq in waiting if seq in room.held_events]
                if stuck:
                    room.release_held_upto(max(stuck))
        self.watch_gap(room)
