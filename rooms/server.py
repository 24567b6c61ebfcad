"""``RoomServer``: the rooms alive in this process, their sockets, the bus and the store.

Data flow of one client update (docs/rooms.md has the whole picture):

1. decoded strictly (bad framing: 1002), applied to the room's Doc (undecodable: 1003),
2. the effective delta is encoded once and queued on every other local socket,
3. published on the bus once (other processes apply it with origin BUS and fan out locally),
4. queued for the store, which receives batches at most ``flush_interval`` later.

Updates from the bus are applied and fanned out but never re-published. The process that got
them from its client stores them and then says so on the bus (``STORED``); until it does, the
others keep them, and store them themselves if it does not within ``peer_store_timeout`` (it
died) or when they unload the room. So an edit any live process applied reaches the store,
whichever process dies. After a bus reconnect (``bus.on_reconnect``) every room reconciles with
the store and re-announces its state, so nothing acknowledged is lost even when the bus dropped
messages.

Stored events carry the seq of the stored event before them (``Event.prev``): a room delivers
them in seq order and notices one the bus lost (an outage, another process' failed publish), then
fills the gap from the store; after a reconnect it replays from the highest seq up to which it
delivered *everything* (``Room.event_floor``), not from the highest it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping, Sequence
from typing import Any

from pycrdt import Doc, TransactionEvent, merge_updates

from rooms import close_codes, wire
from rooms.awareness import AwarenessChanges
from rooms.bus import Bus, BusMessage, BusUnavailable, Handler, Subscription
from rooms.config import RoomConfig
from rooms.connection import Connection, TokenBucket, Transport
from rooms.hooks import (
    AfterUnloadPayload,
    AuthenticatePayload,
    AwarenessPayload,
    ChangePayload,
    ConfigurePayload,
    ConnectPayload,
    DestroyPayload,
    DisconnectPayload,
    Extension,
    HookRunner,
    LoadDocumentPayload,
    MessagePayload,
    Reject,
    RoomEventPayload,
    UnloadPayload,
)
from rooms.presence import MemoryPresence
from rooms.protocol import (
    AWARENESS_PREFIX,
    EMPTY_UPDATE,
    KEEPALIVE,
    AwarenessMessage,
    EventProtocolError,
    Message,
    ProtocolError,
    QueryAwarenessMessage,
    SyncMessage,
    SyncType,
    decode_awareness,
    decode_client_event,
    decode_message,
    encode_awareness,
    encode_awareness_entries,
    encode_json,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
    error_message,
)
from rooms.room import MAX_HELD_EVENTS, Room, RoomState, iter_matching, params_defaults
from rooms.store import DocumentStore
from rooms.types import (
    ConnectionContext,
    ConnectionKind,
    Event,
    Origin,
    PresenceLike,
    RequestInfo,
    Role,
    is_valid_room_id,
)

log = logging.getLogger(__name__)

PONG = encode_json({"type": "pong"})
YIELD_EVERY = 8
# How long a ``close_matching`` key is remembered, to refuse sockets whose authentication began
# before the close arrived but finished after it (a handshake in flight).
ENDED_KEYS_TTL = 60.0
MAX_KEY_LENGTH = 200


def connections_channel(channel_prefix: str) -> str:
    """The bus channel on which every :class:`RoomServer` with ``channel_prefix`` listens for
    :meth:`RoomServer.close_matching`."""
    # Room ids start with a letter or digit, so this never names a room's channel.
    return f"{channel_prefix}:connections"


def close_matching_message(
    keys: Iterable[str], code: int = close_codes.UNAUTHENTICATED, reason: str = ""
) -> tuple[list[str], bytes]:
    """The checked keys and the control message of :meth:`RoomServer.close_matching`. A process
    without a server (a command line) that publishes it on :func:`connections_channel` of the
    same bus closes those sockets on every process. Raises ``ValueError`` for a bad key or code."""
    wanted = sorted({_check_key(key) for key in keys})
    if isinstance(code, bool) or not isinstance(code, int) or not 1000 <= code <= 4999:
        raise ValueError(f"invalid close code {code!r}")
    data = {"action": "close_matching", "keys": wanted, "code": code, "reason": reason}
    return wanted, wire.encode_control(data)


class RoomServer:
    def __init__(
        self,
        bus: Bus,
        store: DocumentStore,
        presence: PresenceLike | None = None,
        extensions: Sequence[Extension] = (),
        config: RoomConfig | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.presence: PresenceLike = presence if presence is not None else MemoryPresence()
        self.config = config or RoomConfig()
        self.hooks = HookRunner(list(extensions))
        self._rooms: dict[str, Room] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self._started = False
        self._stopping = False
        self._admissions = asyncio.Semaphore(self.config.max_concurrent_admissions)
        self.admissions_refused = 0  # sockets answered 1013 (for metrics and tests)
        # Every socket being served, from accept to close (any room, in admission or joined),
        # and the keys closed recently: key -> (monotonic time, close code, reason).
        self._live: set[Connection] = set()
        self._ended: dict[str, tuple[float, int, str]] = {}
        self._connections_sub: Subscription | None = None
        self._failed_publishes = 0  # since the last publish that worked (logged once)

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def instance_id(self) -> str:
        return self.bus.instance_id

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await self.hooks.run("on_configure", ConfigurePayload(server=self, config=self.config))
        self.bus.on_reconnect(self._on_bus_reconnect)
        self._connections_sub = await self.bus.subscribe(
            self._connections_channel(), self._on_connections_control
        )
        self._maintenance = asyncio.create_task(self._maintain(), name="rooms-maintenance")

    async def stop(self) -> None:
        """Close every socket (1001), persist and unload every room, then ``on_destroy``."""
        if self._stopping:
            return
        self._stopping = True
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        if self._connections_sub is not None:
            with contextlib.suppress(Exception):
                await self._connections_sub.unsubscribe()
        for room in list(self._rooms.values()):
            for conn in room.connections:
                conn.close(close_codes.GOING_AWAY)
        for room in list(self._rooms.values()):
            if room.state is RoomState.LOADING:
                with contextlib.suppress(Exception):
                    await asyncio.shield(room.ready)
            if room.state is RoomState.READY:
                await self._unload(room)
            elif room.state is RoomState.UNLOADING:
                await room.unloaded.wait()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.hooks.notify("on_destroy", DestroyPayload(server=self))

    async def __aenter__(self) -> RoomServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("room background task failed", exc_info=task.exception())

    # --- public API -------------------------------------------------------------------------

    def is_loaded(self, room_id: str) -> bool:
        room = self._rooms.get(room_id)
        return room is not None and room.state is RoomState.READY

    def loaded_rooms(self) -> list[str]:
        return [rid for rid, room in self._rooms.items() if room.state is RoomState.READY]

    def local_connections(self, room_id: str) -> list[ConnectionContext]:
        room = self._rooms.get(room_id)
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
        room = await self._acquire(room_id)
        try:
            yield room.doc
        finally:
            try:
                await self._propagate_local(room)
            finally:
                self._release(room)

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
        if not is_valid_room_id(room_id):
            raise ValueError(f"invalid room id {room_id!r}")
        if not event_type or len(event_type) > 64:
            raise ValueError("event type must be 1..64 characters")
        payload_data = dict(data)
        try:
            json.dumps(payload_data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"event data must be JSON-serialisable: {exc}") from exc
        await self.hooks.run(
            "on_room_event",
            RoomEventPayload(room_id, event_type, payload_data, persist, connection),
        )
        event = await self.store.append_event(room_id, event_type, payload_data, persist=persist)
        room = self._rooms.get(room_id)
        if room is not None and room.state is RoomState.READY:
            room.deliver_event(event)
            self._watch_gap(room)
        self._publish(self._events_channel(room_id), wire.encode_event(event))
        return event

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
        return await self._control(room_id, data)

    async def set_role(self, room_id: str, user_id: str, role: Role | str) -> int:
        """Change the role of a user's open sockets in the room, on every process."""
        role = Role(role)
        return await self._control(room_id, {"action": "role", "user_id": user_id, "role": role})

    async def close_room(self, room_id: str, reason: str = "") -> int:
        """Close (4410) every socket of the room, on every process."""
        return await self._control(room_id, {"action": "close", "reason": reason})

    async def close_matching(
        self, keys: Iterable[str], code: int = close_codes.UNAUTHENTICATED, reason: str = ""
    ) -> int:
        """Close with ``code`` every socket whose ``context.credentials`` holds one of ``keys``,
        in every room, on every process (a control message on the bus). A socket whose
        authentication began before the close arrived is refused the same way when it finishes.
        Returns how many sockets of *this* process were closed."""
        wanted, message = close_matching_message(keys, code, reason)
        if not wanted:
            return 0
        affected = self._close_matching_local(wanted, code, reason)
        try:
            # Awaited: when this returns, the message is on its way to every other process.
            await self.bus.publish(self._connections_channel(), message)
        except Exception as exc:
            self._publish_failed(self._connections_channel(), exc)
        else:
            self._publish_worked()
        return affected

    async def resync(self, room_id: str | None = None) -> None:
        """Reconcile with the store and re-announce state on the bus (what a bus reconnect
        triggers); for one room or all rooms loaded here."""
        rooms = [self._rooms[room_id]] if room_id in self._rooms else []
        if room_id is None:
            rooms = list(self._rooms.values())
        for room in rooms:
            if room.state is RoomState.READY:
                try:
                    await self._resync_room(room)
                except Exception:
                    log.exception("room resync failed", extra={"room": room.room_id})

    # --- sockets ----------------------------------------------------------------------------

    async def serve_yjs(self, transport: Transport, room_id: str, request: RequestInfo) -> None:
        """Serve one accepted y-websocket socket until it closes."""
        await self._serve(transport, room_id, request, ConnectionKind.YJS, None)

    async def serve_events(
        self, transport: Transport, room_id: str, request: RequestInfo, since: str | None = None
    ) -> None:
        """Serve one accepted event-stream socket; ``since`` is the raw ``?since=`` value."""
        await self._serve(transport, room_id, request, ConnectionKind.EVENTS, since)

    async def _serve(
        self,
        transport: Transport,
        room_id: str,
        request: RequestInfo,
        kind: ConnectionKind,
        since: str | None,
    ) -> None:
        ctx = ConnectionContext(
            connection_id=uuid.uuid4().hex,
            room_id=room_id,
            kind=kind,
            request=request,
            role=self.config.default_role,
        )
        conn = Connection(
            transport,
            ctx,
            queue_size=self.config.outbound_queue,
            close_timeout=self.config.close_timeout,
            limiter=TokenBucket(self.config.messages_per_second, self.config.message_burst),
            on_close=_detach,
            echo_byte_cap=self.config.max_message_bytes,
        )
        conn.session_task = asyncio.current_task()
        conn.start()
        self._live.add(conn)
        room: Room | None = None
        try:
            try:
                since_seq = _parse_since(since) if kind is ConnectionKind.EVENTS else None
                if self._stopping:
                    raise Reject(close_codes.GOING_AWAY)
                if not is_valid_room_id(room_id):
                    raise Reject(close_codes.NO_SUCH_ROOM, "invalid room id")
                async with self._admission():
                    began = time.monotonic()
                    await self.hooks.run("on_connect", ConnectPayload(room_id, ctx))
                    await self.hooks.run(
                        "on_authenticate", AuthenticatePayload(room_id, ctx, request.token)
                    )
                    self._refuse_ended(ctx, began)
                    if self.config.require_authentication and not ctx.authenticated:
                        raise Reject(close_codes.UNAUTHENTICATED)
                    if (
                        kind is ConnectionKind.YJS
                        and await self._member_total(room_id) >= self.config.max_members
                    ):
                        raise Reject(close_codes.ROOM_FULL)
                    room = await self._acquire(room_id)
                    conn.room = room
                    if kind is ConnectionKind.YJS:
                        await self._join_yjs(room, conn)
                    else:
                        await self._join_events(room, conn, since_seq)
                if kind is ConnectionKind.YJS:
                    await self._read_yjs(room, conn)
                else:
                    await self._read_events(room, conn)
            except Reject as rejected:
                if kind is ConnectionKind.EVENTS:
                    conn.send(error_message("rejected", rejected.reason))
                conn.close(rejected.close_code, rejected.reason)
            except EventProtocolError as bad:
                conn.send(error_message(bad.code, bad.message))
                conn.close(bad.close_code, bad.code)
            except asyncio.CancelledError:
                if not conn.aborted:
                    raise
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()  # we cancelled it ourselves; the session just ends
            except Exception:
                log.exception("room socket failed", extra={"room": room_id})
                conn.close(close_codes.INTERNAL_ERROR)
        finally:
            self._live.discard(conn)
            if not conn.closing:
                conn.mark_gone(transport_code(transport))
            if room is not None:
                await self._leave(room, conn)
            await self.hooks.notify(
                "on_disconnect",
                DisconnectPayload(room_id, ctx, conn.close_code or close_codes.NORMAL),
            )
            await conn.finish()
            if room is not None:
                self._release(room)

    @contextlib.asynccontextmanager
    async def _admission(self) -> AsyncIterator[None]:
        """Bound the handshakes in progress (each costs database and presence round trips): a
        burst of thousands would exhaust the DB pool and end in 1011 for most of them. Those
        that cannot start within ``admission_timeout`` get 1013, which stock clients retry."""
        try:
            async with asyncio.timeout(self.config.admission_timeout):
                await self._admissions.acquire()
        except TimeoutError:
            self.admissions_refused += 1
            raise Reject(close_codes.TRY_AGAIN_LATER, "server busy, try again later") from None
        try:
            yield
        finally:
            self._admissions.release()

    async def _member_total(self, room_id: str) -> int:
        """Members across processes; this process' own count when presence is unreachable
        (presence is best effort: an outage must not lock everyone out)."""
        try:
            return await self.presence.count(room_id)
        except Exception:
            log.warning("presence count failed", extra={"room": room_id}, exc_info=True)
            room = self._rooms.get(room_id)
            return len(room.yjs) if room is not None else 0

    async def _join_yjs(self, room: Room, conn: Connection) -> None:
        room.yjs[conn] = None
        # Both at once: a newcomer must see the peers right away (FACTS.md).
        conn.send(encode_sync_step1(room.doc.get_state()))
        awareness = room.awareness_frame()
        if awareness is not None and conn.send(awareness):
            conn.grant_echo(awareness)
        ctx = conn.context
        try:
            await self.presence.join(
                room.room_id, ctx.connection_id, ctx.member_info(), self.config.presence_ttl
            )
        except Exception:
            log.exception("presence join failed", extra={"room": room.room_id})
        await self._member_event(room, "member.joined", ctx)

    async def _member_event(self, room: Room, event_type: str, ctx: ConnectionContext) -> None:
        try:
            count = await self._member_total(room.room_id)
            await self.emit_event(
                room.room_id, event_type, {**ctx.member_info(), "count": count}, persist=False
            )
        except Reject:
            pass  # an extension chose to suppress member events
        except Exception:
            log.exception("member event failed", extra={"room": room.room_id})

    async def _read_yjs(self, room: Room, conn: Connection) -> None:
        max_bytes = self.config.max_message_bytes
        check_hook = self.hooks.has("before_handle_message")
        handled = 0
        while not conn.closing:
            handled += 1
            if handled % YIELD_EVERY == 0:
                # A backlog of queued frames is read without suspending; let the writer tasks
                # drain so a burst from one sender does not overflow healthy sockets' queues.
                await asyncio.sleep(0)
            frame = await conn.transport.receive()
            if frame is None:
                conn.mark_gone(transport_code(conn.transport))
                return
            if conn.closing:
                return
            if isinstance(frame, str):
                conn.close(close_codes.UNSUPPORTED_DATA, "text frames are not accepted here")
                return
            if len(frame) > max_bytes:
                conn.close(close_codes.MESSAGE_TOO_BIG)
                return
            # Stock clients send back every awareness frame they apply (an echo). An awareness
            # frame within the socket's echo credit is charged once decoded: a no-op spends the
            # credit, a change a token as usual (so credit never buys extra fan-out).
            credited = frame[:1] == AWARENESS_PREFIX and conn.may_echo(len(frame))
            if not credited and not conn.limiter.allow():
                conn.close(close_codes.RATE_LIMITED)
                return
            try:
                message = decode_message(frame)
            except ProtocolError as exc:
                conn.close(close_codes.PROTOCOL_ERROR, str(exc))
                return
            if check_hook:
                await self.hooks.run(
                    "before_handle_message", MessagePayload(room.room_id, conn.context, message)
                )
            await self._handle_yjs(room, conn, message, len(frame) if credited else 0)

    async def _handle_yjs(
        self, room: Room, conn: Connection, message: Message, uncharged: int = 0
    ) -> None:
        """``uncharged``: the size of an awareness frame not charged yet (see _read_yjs)."""
        if conn.closing:
            return  # closed while a hook ran (say its credential ended): apply nothing more
        if isinstance(message, SyncMessage):
            if message.sync_type is SyncType.STEP1:
                try:
                    reply = room.doc.get_update(message.payload)
                except ValueError:
                    conn.close(close_codes.UNSUPPORTED_DATA, "invalid state vector")
                    return
                conn.send(encode_sync_step2(reply))
                return
            if not conn.context.can_edit:
                return  # viewers receive but never write (their step2/update are dropped)
            try:
                delta = room.apply(message.payload)
            except ValueError:
                conn.close(close_codes.UNSUPPORTED_DATA, "update cannot be applied")
                return
            if delta is not None:
                await self._propagate(room, delta, Origin.CONNECTION, conn)
        elif isinstance(message, AwarenessMessage):
            try:
                entries = decode_awareness(message.payload)
            except ProtocolError as exc:
                conn.close(close_codes.PROTOCOL_ERROR, str(exc))
                return
            if uncharged:
                if not room.awareness.would_change(entries):
                    conn.spend_echo(uncharged)
                elif not conn.limiter.allow():
                    conn.close(close_codes.RATE_LIMITED)
                    return
            changes = room.awareness.apply(entries, conn, time.monotonic())
            if changes.refuted:
                # Only the refuted client itself reacts (it re-announces with a newer clock).
                conn.send(encode_awareness(encode_awareness_entries(changes.refuted)))
            if changes.changed:
                await self._awareness_changed(room, changes, conn, Origin.CONNECTION)
        elif isinstance(message, QueryAwarenessMessage):
            answer = room.awareness_frame()
            if answer is None:
                conn.send(KEEPALIVE)
            elif conn.send(answer):
                conn.grant_echo(answer)
        # AuthMessage: only servers send those (permission denied); a client's is ignored.

    async def _join_events(self, room: Room, conn: Connection, since: int | None) -> None:
        ctx = conn.context
        conn.replaying = True  # live events are held until the replay is out
        room.events[conn] = None
        last = await self.store.last_seq(room.room_id)
        if len(room.events) == 1:
            # The only event socket: everything up to its welcome is history to it.
            room.skip_events(last)
        try:
            members = await self.presence.members(room.room_id)
        except Exception:
            log.exception("presence members failed", extra={"room": room.room_id})
            members = []
        welcome = {
            "type": "welcome",
            "room": room.room_id,
            "seq": last,
            "connection_id": ctx.connection_id,
            "you": ctx.member_info(),
            "members": members,
        }
        conn.send(encode_json(welcome))
        conn.seen_seq = last if since is None else since
        if since is not None:
            events = await self.store.events_since(
                room.room_id, since, limit=self.config.replay_limit
            )
            if events is None:
                conn.send(encode_json({"type": "resync", "seq": last}))
                conn.seen_seq = max(since, last)
            else:
                for event in events:
                    conn.send(event.to_json())
                    conn.seen_seq = max(conn.seen_seq, event.seq)
        held, conn.held = conn.held, []
        conn.replaying = False
        for item in held:
            # Unstored events are never in a replay, and their seq may lie below ``last`` (the
            # SQL store hands them out of a block reserved earlier): only stored ones can be
            # history the welcome or the replay already covers.
            if not item.persist:
                conn.send(item.to_json())
            elif item.seq > conn.seen_seq:
                conn.seen_seq = item.seq
                conn.send(item.to_json())

    async def _read_events(self, room: Room, conn: Connection) -> None:
        max_bytes = self.config.max_message_bytes
        while not conn.closing:
            frame = await conn.transport.receive()
            if frame is None:
                conn.mark_gone(transport_code(conn.transport))
                return
            if conn.closing:
                return
            if isinstance(frame, bytes):
                raise EventProtocolError(
                    "binary_frame", "the event stream accepts JSON text frames only"
                )
            if len(frame) > max_bytes or len(frame.encode()) > max_bytes:
                conn.close(close_codes.MESSAGE_TOO_BIG)
                return
            if not conn.limiter.allow():
                conn.close(close_codes.RATE_LIMITED)
                return
            message = decode_client_event(frame, max_chat_chars=self.config.max_chat_chars)
            await self.hooks.run(
                "before_handle_message", MessagePayload(room.room_id, conn.context, message)
            )
            if conn.closing:
                return
            if message.type == "ping":
                conn.send(PONG)
                continue
            ctx = conn.context
            await self.emit_event(
                room.room_id,
                "chat.message",
                {
                    "text": message.data["text"],
                    "user_id": ctx.user_id,
                    "name": ctx.display_name,
                    "connection_id": ctx.connection_id,
                },
                persist=True,
                connection=ctx,
            )

    async def _leave(self, room: Room, conn: Connection) -> None:
        room.remove(conn)
        if conn.context.kind is not ConnectionKind.YJS:
            return
        released = room.awareness.release(conn, time.monotonic())
        if released:
            # At once, so cursors vanish now rather than after the 30 s awareness timeout.
            removed = [entry.client_id for entry in released]
            changes = AwarenessChanges(released, removed=removed)
            await self._awareness_changed(room, changes, None, Origin.LOCAL)
        try:
            await self.presence.leave(room.room_id, conn.connection_id)
        except Exception:
            log.exception("presence leave failed", extra={"room": room.room_id})
        await self._member_event(room, "member.left", conn.context)

    # --- change propagation -----------------------------------------------------------------

    async def _propagate(
        self, room: Room, delta: bytes, origin: Origin, source: Connection | None
    ) -> None:
        if origin is Origin.CONNECTION or origin is Origin.LOCAL:
            # Bus first: the other processes' recipients wait on Redis, ours only on a local
            # write. The publish is queued, never awaited: the reading socket does not pay a
            # Redis round trip per update (order per channel is kept by the bus' FIFO). The
            # record number lets the others drop their copy once we say it is stored.
            author = source.context.user_id if source is not None else None
            record = room.record(delta, author)
            self._publish(
                self._doc_channel(room.room_id),
                wire.encode_update(delta, writer=room.writer, record=record, author=author),
            )
        # Only queues (the writer tasks write): the publisher task, woken first, runs first.
        room.broadcast(encode_update(delta), exclude=source)
        if self.hooks.has("on_change"):
            ctx = source.context if source is not None else None
            await self.hooks.notify(
                "on_change", ChangePayload(room.room_id, room.doc, delta, origin, ctx)
            )

    async def _awareness_changed(
        self, room: Room, changes: AwarenessChanges, source: Connection | None, origin: Origin
    ) -> None:
        inner = encode_awareness_entries(changes.accepted)
        room.broadcast(encode_awareness(inner), exclude=source, echoed=True)
        if origin is not Origin.BUS:
            self._publish(self._doc_channel(room.room_id), wire.encode_awareness(inner))
        if self.hooks.has("on_awareness_update"):
            await self.hooks.notify(
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

    def _on_stored(self, room: Room, record: int) -> None:
        # The other processes holding our edits up to ``record`` may drop their copies.
        self._publish(self._doc_channel(room.room_id), wire.encode_stored(room.writer, record))

    def _on_local_change(self, room: Room) -> None:
        # Called from inside a pycrdt observer: only schedule, never touch the doc here.
        self._spawn(self._propagate_local(room), f"room-local-{room.room_id}")

    async def _propagate_local(self, room: Room) -> None:
        delta = room.take_local_changes()
        if delta is None:
            return
        if room.state is RoomState.UNLOADED:
            log.warning("server-side edit after unload dropped", extra={"room": room.room_id})
            return
        await self._propagate(room, delta, Origin.LOCAL, None)

    def _publish(self, channel: str, payload: bytes) -> None:
        # Every publish of the room core goes through the bus' one queue (``publish_nowait``):
        # mixing awaited and queued publishes could reorder a channel's messages.
        try:
            self.bus.publish_nowait(channel, payload)
        except Exception as exc:
            self._publish_failed(channel, exc)
        else:
            self._publish_worked()

    def _publish_failed(self, channel: str, exc: Exception) -> None:
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

    def _publish_worked(self) -> None:
        if self._failed_publishes:
            log.warning(
                "bus publish works again (%d publishes failed meanwhile)", self._failed_publishes
            )
            self._failed_publishes = 0

    def _doc_channel(self, room_id: str) -> str:
        return f"{self.config.channel_prefix}{room_id}"

    def _events_channel(self, room_id: str) -> str:
        return f"{self.config.channel_prefix}{room_id}:events"

    def _connections_channel(self) -> str:
        return connections_channel(self.config.channel_prefix)

    # --- registry: load / unload ------------------------------------------------------------

    async def _acquire(self, room_id: str) -> Room:
        """The live room, loading it if needed; holds a reference until ``_release``."""
        while True:
            if self._stopping:
                raise Reject(close_codes.GOING_AWAY)
            room = self._rooms.get(room_id)
            if room is None:
                room = Room(
                    room_id,
                    config=self.config,
                    store=self.store,
                    hooks=self.hooks,
                    instance_id=self.instance_id,
                    on_local_change=self._on_local_change,
                    on_stored=self._on_stored,
                )
                self._rooms[room_id] = room
                room.refs += 1
                try:
                    await self._load(room)
                except BaseException as exc:
                    room.refs -= 1
                    await self._discard(room, exc)
                    raise
                return room
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

    async def _load(self, room: Room) -> None:
        # Subscribe FIRST, then read the store: whatever is published in between is buffered
        # and applied after the stored state (CRDT updates are idempotent, overlap is harmless).
        room.subscriptions.append(
            await self.bus.subscribe(self._doc_channel(room.room_id), self._doc_handler(room))
        )
        room.subscriptions.append(
            await self.bus.subscribe(self._events_channel(room.room_id), self._events_handler(room))
        )
        stored = await self.store.load(room.room_id)
        for update in stored.all_updates:
            try:
                room.apply(update)
            except ValueError:
                log.error(
                    "skipping a stored update that cannot be applied", extra={"room": room.room_id}
                )
        room.uncompacted = len(stored.updates)
        room.event_floor = await self.store.last_seq(room.room_id)
        if stored.is_empty and self.config.default_params:
            params_defaults(room.doc, self.config.default_params)
        await self.hooks.run(
            "on_load_document", LoadDocumentPayload(room.room_id, room.doc, stored.is_empty)
        )
        buffered = room.bus_buffer
        while buffered:
            await self._handle_bus(room, buffered.pop(0))
        room.bus_buffer = None
        room.state = RoomState.READY
        room.ready.set_result(None)
        await self._propagate_local(room)
        # Ask the processes that already serve this room for what neither the store (not yet
        # flushed) nor the bus (published before we subscribed) gave us.
        self._publish(
            self._doc_channel(room.room_id),
            wire.encode_resync(room.doc.get_state(), EMPTY_UPDATE, want_reply=True),
        )
        await self.hooks.notify(
            "after_load_document", LoadDocumentPayload(room.room_id, room.doc, stored.is_empty)
        )

    async def _discard(self, room: Room, exc: BaseException) -> None:
        room.state = RoomState.UNLOADED
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
        room.cancel_timers()
        await self._unsubscribe(room)
        if not room.ready.done():
            if isinstance(exc, Exception):
                room.ready.set_exception(exc)
            else:
                room.ready.set_exception(RuntimeError("room load interrupted"))
            room.ready.exception()  # mark retrieved: waiters may all be gone
        room.unloaded.set()

    def _release(self, room: Room) -> None:
        room.refs -= 1
        if room.refs > 0 or room.state is not RoomState.READY or self._stopping:
            return
        if room.unload_handle is not None:
            room.unload_handle.cancel()
        loop = asyncio.get_running_loop()
        room.unload_handle = loop.call_later(
            self.config.unload_delay,
            lambda: self._spawn(self._unload_if_idle(room), f"room-unload-{room.room_id}"),
        )

    async def _unload_if_idle(self, room: Room) -> None:
        room.unload_handle = None
        if room.refs > 0 or room.state is not RoomState.READY:
            return
        await self._unload(room)

    async def _unload(self, room: Room) -> None:
        room.state = RoomState.UNLOADING
        room.cancel_timers()
        try:
            await self.hooks.notify("before_unload_document", UnloadPayload(room.room_id, room.doc))
            await self._propagate_local(room)
            # Edits of other processes not confirmed yet: their writer may be dead, and once
            # this copy is gone nobody else may hold them. Storing a duplicate is harmless.
            room.adopt_unconfirmed(everything=True)
            await room.wait_flush_tasks()
            await self._flush_for_unload(room)
            # Still subscribed until here (so peers loading the room got answers); whatever
            # arrived meanwhile is stored too before the copy is dropped.
            await self._unsubscribe(room)
            room.adopt_unconfirmed(everything=True)
            if room.has_unsaved:
                await self._flush_for_unload(room)
            if room.uncompacted:
                await room.compact()
        finally:
            room.cancel_timers()
            await self._unsubscribe(room)
            room.state = RoomState.UNLOADED
            if self._rooms.get(room.room_id) is room:
                del self._rooms[room.room_id]
            room.unloaded.set()
            for conn in room.connections:
                conn.close(close_codes.GOING_AWAY)
            await self.hooks.notify("after_unload_document", AfterUnloadPayload(room.room_id))

    async def _flush_for_unload(self, room: Room) -> None:
        for attempt in range(3):
            if await room.flush():
                return
            await asyncio.sleep(self.config.flush_interval * (attempt + 1))
        log.error("unloading room with unsaved updates", extra={"room": room.room_id})

    async def _unsubscribe(self, room: Room) -> None:
        subscriptions, room.subscriptions = room.subscriptions, []
        for subscription in subscriptions:
            try:
                await subscription.unsubscribe()
            except Exception:
                log.warning("bus unsubscribe failed", extra={"room": room.room_id}, exc_info=True)

    # --- bus --------------------------------------------------------------------------------

    def _doc_handler(self, room: Room) -> Handler:
        async def handle(message: BusMessage) -> None:
            # Every callback tolerates rooms that were just unloaded (Hocuspocus #1027).
            if room.state is RoomState.UNLOADED:
                return
            if room.bus_buffer is not None:
                room.bus_buffer.append(message)
                return
            await self._handle_bus(room, message)

        return handle

    def _events_handler(self, room: Room) -> Handler:
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
                    self._watch_gap(room, force=True)
                return
            room.deliver_event(event)
            self._watch_gap(room)

        return handle

    def _watch_gap(self, room: Room, *, force: bool = False) -> None:
        """Fill the room's event gap from the store soon, unless the bus closes it first."""
        if room.fill_handle is not None or not (force or room.held_events):
            return
        delay = self.config.event_gap_wait
        if len(room.held_events) > MAX_HELD_EVENTS:
            delay = 0.0

        def fill() -> None:
            room.fill_handle = None
            self._spawn(self._fill_events(room), f"room-events-fill-{room.room_id}")

        room.fill_handle = asyncio.get_running_loop().call_later(delay, fill)

    async def _fill_events(self, room: Room) -> None:
        """Deliver, in seq order, every stored event above ``room.event_floor`` (a ``resync``
        to the event sockets when the store cannot return them all)."""
        if room.fill_handle is not None:
            room.fill_handle.cancel()
            room.fill_handle = None
        async with room.fill_lock:
            if room.state is not RoomState.READY:
                return
            if not room.events:
                # Nobody to deliver to; sockets that join replay from the store themselves.
                if room.held_events:
                    room.skip_events(max(room.held_events))
                return
            waiting = set(room.held_events)
            events = await self.store.events_since(
                room.room_id, room.event_floor, limit=self.config.replay_limit
            )
            if events is None:
                last = await self.store.last_seq(room.room_id)
                room.skip_events(last, encode_json({"type": "resync", "seq": last}))
            else:
                for event in events:
                    room.deliver_event(event)
                # Held before the query, so committed before it: if the store did not close
                # their gap, nothing will (their predecessor was trimmed). Deliver them.
                stuck = [seq for seq in waiting if seq in room.held_events]
                if stuck:
                    room.release_held_upto(max(stuck))
        self._watch_gap(room)

    async def _handle_bus(self, room: Room, message: BusMessage) -> None:
        try:
            payload = wire.decode(message.payload)
        except ProtocolError:
            log.warning("dropping malformed bus message", extra={"room": room.room_id})
            return
        if isinstance(payload, wire.BusUpdate | wire.BusResync):
            try:
                delta = room.apply(payload.update)
            except ValueError:
                log.warning(
                    "dropping bus update that cannot be applied", extra={"room": room.room_id}
                )
                return
            if delta is not None:
                # Kept until its writer confirms it stored it. A resync's content has no writer
                # to confirm it (it may come from a dead process' edits): stored here at once.
                if isinstance(payload, wire.BusUpdate):
                    room.hold_unconfirmed(payload.writer, payload.record, delta, payload.author)
                else:
                    room.hold_unconfirmed("", 0, delta, None)
                await self._propagate(room, delta, Origin.BUS, None)
            if isinstance(payload, wire.BusResync) and payload.want_reply:
                await self._answer_resync(room, payload.state_vector)
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
                await self._awareness_changed(room, changes, None, Origin.BUS)
        else:
            self._apply_control(room, payload.data)

    async def _answer_resync(self, room: Room, state_vector: bytes) -> None:
        """A peer (re)loaded the room: send it what it lacks and the awareness of our sockets
        (a newcomer there must see our members at once). The answer is never answered."""
        channel = self._doc_channel(room.room_id)
        try:
            diff = room.doc.get_update(state_vector)
        except ValueError:
            log.warning("bad state vector in resync", extra={"room": room.room_id})
            return
        if diff != EMPTY_UPDATE:
            self._publish(channel, wire.encode_resync(room.doc.get_state(), diff, want_reply=False))
        entries = room.awareness.local_entries()
        if entries:
            self._publish(channel, wire.encode_awareness(encode_awareness_entries(entries)))

    async def _control(self, room_id: str, data: dict[str, Any]) -> int:
        if not is_valid_room_id(room_id):
            raise ValueError(f"invalid room id {room_id!r}")
        room = self._rooms.get(room_id)
        affected = self._apply_control(room, data) if room is not None else 0
        self._publish(self._doc_channel(room_id), wire.encode_control(data))
        return affected

    def _apply_control(self, room: Room, data: Mapping[str, Any]) -> int:
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

    def _close_matching_local(self, keys: Sequence[str], code: int, reason: str) -> int:
        now = time.monotonic()
        for key, (at, _, _) in list(self._ended.items()):
            if now - at > ENDED_KEYS_TTL:
                del self._ended[key]
        for key in keys:
            self._ended[key] = (now, code, reason)
        wanted = frozenset(keys)
        targets = [c for c in self._live if not c.closing and c.context.credentials & wanted]
        for conn in targets:
            conn.close(code, reason)
        return len(targets)

    def _refuse_ended(self, ctx: ConnectionContext, began: float) -> None:
        """After ``on_authenticate``: a key closed since ``began`` may have been checked
        before it ended (the close arrived while the handshake was in flight)."""
        for key in ctx.credentials:
            ended = self._ended.get(key)
            if ended is not None and ended[0] >= began:
                raise Reject(ended[1], ended[2])

    async def _on_connections_control(self, message: BusMessage) -> None:
        try:
            payload = wire.decode(message.payload)
            if not isinstance(payload, wire.BusControl):
                raise ProtocolError("not a control message")
            data = payload.data
            keys, code, reason = data["keys"], data["code"], str(data.get("reason") or "")
            if data.get("action") != "close_matching" or not isinstance(keys, list):
                raise ProtocolError("unknown connections control message")
            if isinstance(code, bool) or not isinstance(code, int) or not 1000 <= code <= 4999:
                raise ProtocolError("bad close code")
            checked = [_check_key(key) for key in keys]
        except (ProtocolError, KeyError, ValueError):
            log.warning("dropping malformed connections control message")
            return
        self._close_matching_local(checked, code, reason)

    async def _on_bus_reconnect(self) -> None:
        await self.resync()

    async def _resync_room(self, room: Room) -> None:
        await self._reconcile_with_store(room)
        self._publish(
            self._doc_channel(room.room_id),
            wire.encode_resync(room.doc.get_state(), room.doc.get_update(), want_reply=True),
        )
        # Events the bus lost while we were away, from the highest seq up to which we delivered
        # everything; then tell the others how far the store goes (our publishes may be lost).
        await self._fill_events(room)
        self._publish(self._events_channel(room.room_id), wire.encode_tip(room.event_floor))

    async def _reconcile_with_store(self, room: Room) -> None:
        """Make the room and the store hold the same document (state-vector reconciliation)."""
        await room.flush()
        stored = await self.store.load(room.room_id)
        mirror: Doc[Any] = Doc()
        for update in stored.all_updates:
            try:
                delta = room.apply(update)
                mirror.apply_update(update)
            except ValueError:
                continue
            if delta is not None:
                await self._propagate(room, delta, Origin.STORE, None)
        captured: list[bytes] = []

        def capture(event: TransactionEvent) -> None:
            captured.append(event.update)

        mirror.observe(capture)
        mirror.apply_update(room.doc.get_update(mirror.get_state()))
        missing = [update for update in captured if update != EMPTY_UPDATE]
        if missing:
            room.record(missing[0] if len(missing) == 1 else merge_updates(*missing), None)
            await room.flush()

    # --- maintenance ------------------------------------------------------------------------

    async def _maintain(self) -> None:
        cfg = self.config
        tick = max(0.02, min(cfg.keepalive_interval, cfg.awareness_timeout, cfg.presence_ttl) / 3)
        while True:
            await asyncio.sleep(tick)
            for room in list(self._rooms.values()):
                if room.state is not RoomState.READY:
                    continue
                try:
                    await self._maintain_room(room, time.monotonic())
                except Exception:
                    log.exception("room maintenance failed", extra={"room": room.room_id})

    async def _maintain_room(self, room: Room, now: float) -> None:
        cfg = self.config
        for conn in tuple(room.yjs):
            if now - conn.last_send >= cfg.keepalive_interval:
                conn.send(KEEPALIVE)
        # Event sockets too: proxies cut idle connections (60 s is typical) and browsers cannot
        # see WebSocket pings, so the page needs traffic to tell a live socket from a dead one.
        for conn in tuple(room.events):
            if now - conn.last_send >= cfg.keepalive_interval and not conn.replaying:
                conn.send(PONG)
        expired = room.awareness.expire(now, cfg.awareness_timeout)
        if expired and self.hooks.has("on_awareness_update"):
            await self.hooks.notify(
                "on_awareness_update",
                AwarenessPayload(room.room_id, None, Origin.LOCAL, (), (), tuple(expired)),
            )
        if now - room.presence_renewed >= cfg.presence_ttl / 3:
            room.presence_renewed = now
            try:
                for conn in tuple(room.yjs):
                    ctx = conn.context
                    await self.presence.join(
                        room.room_id, ctx.connection_id, ctx.member_info(), cfg.presence_ttl
                    )
            except Exception:
                # The next renewal repairs it; the rest of the maintenance must still run.
                log.warning("presence renewal failed", extra={"room": room.room_id}, exc_info=True)
        if (
            cfg.reconcile_interval is not None
            and now - room.last_reconcile >= cfg.reconcile_interval
        ):
            room.last_reconcile = now
            await self._reconcile_with_store(room)


def _detach(conn: Connection) -> None:
    room = conn.room
    if room is not None:
        room.remove(conn)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ValueError(f"credential keys are strings of 1..{MAX_KEY_LENGTH} characters")
    return key


def _parse_since(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise EventProtocolError("invalid_since", "since must be a non-negative integer")
    return int(raw)


def transport_code(transport: Transport) -> int:
    code = getattr(transport, "disconnect_code", None)
    return code if isinstance(code, int) else close_codes.NORMAL
