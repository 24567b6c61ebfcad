"""The bus bridge: what a live room sends and receives on its document channel.

Updates from the bus are applied and fanned out but never re-published. The process that got
them from its client stores them and then says so on the bus (``STORED``); until it does, the
others keep them, and store them themselves if it does not within ``peer_store_timeout`` (it
died) or when they unload the room. So an edit any live process applied reaches the store,
whichever process dies. After a bus reconnect (``bus.on_reconnect``) every room reconciles with
the store and re-announces its state, so nothing acknowledged is lost even when the bus dropped
messages. Message shapes: rooms/wire.py; the event channel: rooms/events.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from pycrdt import Doc, TransactionEvent, merge_updates

from rooms import close_codes, wire
from rooms.bus import BusMessage, Handler
from rooms.events import EventStream
from rooms.fanout import Fanout
from rooms.protocol import EMPTY_UPDATE, ProtocolError, decode_awareness, encode_awareness_entries
from rooms.room import Room, RoomState, iter_matching
from rooms.runtime import Runtime
from rooms.stats import ROOM_STATS
from rooms.types import Origin, Role, is_valid_room_id

log = logging.getLogger(__name__)


class Bridge:
    def __init__(self, runtime: Runtime, fanout: Fanout, events: EventStream) -> None:
        self._rt = runtime
        self._fanout = fanout
        self._events = events

    # --- subscriptions ----------------------------------------------------------------------

    async def subscribe(self, room: Room) -> None:
        """Subscribe the room's document and event channels (before it reads the store)."""
        rt = self._rt
        room.subscriptions.append(
            await rt.bus.subscribe(rt.doc_channel(room.room_id), self._doc_handler(room))
        )
        room.subscriptions.append(
            await rt.bus.subscribe(rt.events_channel(room.room_id), self._events.handler(room))
        )

    async def unsubscribe(self, room: Room) -> None:
        subscriptions, room.subscriptions = room.subscriptions, []
        for subscription in subscriptions:
            try:
                await subscription.unsubscribe()
            except Exception:
                log.warning("bus unsubscribe failed", extra={"room": room.room_id}, exc_info=True)

    async def drain(self, room: Room) -> None:
        """The room read the store: apply what the bus brought meanwhile, then deliver directly."""
        buffered = room.bus_buffer
        while buffered:
            await self.handle(room, buffered.pop(0))
        room.bus_buffer = None

    def ask_peers(self, room: Room) -> None:
        """Ask the processes that already serve the room for what neither the store (not yet
        flushed) nor the bus (published before we subscribed) gave us."""
        self._rt.publish(
            self._rt.doc_channel(room.room_id),
            wire.encode_resync(room.doc.get_state(), EMPTY_UPDATE, want_reply=True),
        )

    def _doc_handler(self, room: Room) -> Handler:
        async def handle(message: BusMessage) -> None:
            # Every callback tolerates rooms that were just unloaded (Hocuspocus #1027).
            if room.state is RoomState.UNLOADED:
                return
            if room.bus_buffer is not None:
                room.bus_buffer.append(message)
                return
            await self.handle(room, message)

        return handle

    # --- receiving --------------------------------------------------------------------------

    async def handle(self, room: Room, message: BusMessage) -> None:
        try:
            payload = wire.decode(message.payload)
        except ProtocolError:
            log.warning("dropping malformed bus message", extra={"room": room.room_id})
            return
        if isinstance(payload, wire.BusUpdate | wire.BusResync):
            await self._apply_update(room, payload)
        elif isinstance(payload, wire.BusStored):
            room.confirm(payload.writer, payload.record)
        elif isinstance(payload, wire.BusAwareness):
            try:
                entries = decode_awareness(payload.payload)
            except ProtocolError:
                log.warning("dropping malformed bus awareness", extra={"room": room.room_id})
                return
            changes = room.awareness.apply(entries, None, time.monotonic())
            if changes.changed:
                await self._fanout.awareness(room, changes, None, Origin.BUS)
        else:
            apply_control(room, payload.data)

    async def _apply_update(self, room: Room, payload: wire.BusUpdate | wire.BusResync) -> None:
        try:
            delta = room.apply(payload.update)
        except ValueError:
            log.warning("dropping bus update that cannot be applied", extra={"room": room.room_id})
            return
        if delta is not None:
            # Kept until its writer confirms it stored it. A resync's content has no writer
            # to confirm it (it may come from a dead process' edits): stored here at once.
            if isinstance(payload, wire.BusUpdate):
                room.hold_unconfirmed(payload.writer, payload.record, delta, payload.author)
            else:
                room.hold_unconfirmed("", 0, delta, None)
            await self._fanout.change(room, delta, Origin.BUS, None)
        if isinstance(payload, wire.BusResync) and payload.want_reply:
            self._answer_resync(room, payload.state_vector)

    def _answer_resync(self, room: Room, state_vector: bytes) -> None:
        """A peer (re)loaded the room: send it what it lacks and the awareness of our sockets
        (a newcomer there must see our members at once). The answer is never answered."""
        channel = self._rt.doc_channel(room.room_id)
        try:
            diff = room.doc.get_update(state_vector)
        except ValueError:
            log.warning("bad state vector in resync", extra={"room": room.room_id})
            return
        if diff != EMPTY_UPDATE:
            self._rt.publish(
                channel, wire.encode_resync(room.doc.get_state(), diff, want_reply=False)
            )
        entries = room.awareness.local_entries()
        if entries:
            self._rt.publish(channel, wire.encode_awareness(encode_awareness_entries(entries)))

    # --- control ----------------------------------------------------------------------------

    def control(self, room_id: str, data: dict[str, Any]) -> int:
        """Apply a control message (kick, role, close) here and publish it to the others;
        returns how many sockets of this process it affected."""
        if not is_valid_room_id(room_id):
            raise ValueError(f"invalid room id {room_id!r}")
        room = self._rt.rooms.get(room_id)
        affected = apply_control(room, data) if room is not None else 0
        self._rt.publish(self._rt.doc_channel(room_id), wire.encode_control(data))
        return affected

    # --- reconnect resync -------------------------------------------------------------------

    async def resync(self, room: Room) -> None:
        """Reconcile with the store, re-announce our state, and replay the events we missed."""
        rt = self._rt
        ROOM_STATS.room_resyncs += 1
        await self.reconcile(room)
        rt.publish(
            rt.doc_channel(room.room_id),
            wire.encode_resync(room.doc.get_state(), room.doc.get_update(), want_reply=True),
        )
        # Events the bus lost while we were away, from the highest seq up to which we delivered
        # everything; then tell the others how far the store goes (our publishes may be lost).
        await self._events.fill(room)
        rt.publish(rt.events_channel(room.room_id), wire.encode_tip(room.event_floor))

    async def reconcile(self, room: Room) -> None:
        """Make the room and the store hold the same document (state-vector reconciliation)."""
        await room.flush()
        stored = await self._rt.store.load(room.room_id)
        mirror: Doc[Any] = Doc()
        for update in stored.all_updates:
            try:
                delta = room.apply(update)
                mirror.apply_update(update)
            except ValueError:
                continue
            if delta is not None:
                await self._fanout.change(room, delta, Origin.STORE, None)
        captured: list[bytes] = []

        def capture(event: TransactionEvent) -> None:
            captured.append(event.update)

        mirror.observe(capture)
        mirror.apply_update(room.doc.get_update(mirror.get_state()))
        missing = [update for update in captured if update != EMPTY_UPDATE]
        if missing:
            room.record(missing[0] if len(missing) == 1 else merge_updates(*missing), None)
            await room.flush()


def apply_control(room: Room, data: Mapping[str, Any]) -> int:
    """Kick, change a role or close the room's sockets of this process; how many it touched."""
    action = data.get("action")
    reason = str(data.get("reason") or "")
    user_id = data.get("user_id")
    connection_id = data.get("connection_id")
    if action == "kick":
        targets = iter_matching(room.connections, user_id=user_id, connection_id=connection_id)
        for conn in targets:
            conn.close(close_codes.KICKED, reason)
        return len(targets)
    if action == "role":
        try:
            role = Role(str(data.get("role")))
        except ValueError:
            log.warning("dropping role change with a bad role", extra={"room": room.room_id})
            return 0
        targets = iter_matching(room.connections, user_id=user_id, connection_id=None)
        for conn in targets:
            conn.context.role = role
        return len(targets)
    if action == "close":
        targets = room.connections
        for conn in targets:
            conn.close(close_codes.ROOM_CLOSED, reason)
        return len(targets)
    log.warning("dropping unknown control message", extra={"room": room.room_id})
    return 0
