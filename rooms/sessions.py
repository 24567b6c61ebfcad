"""Serving one socket, from accept to close: handshake, admission, join, the read loop, leave.

A y-websocket (``/yjs``) socket's client update is decoded strictly (bad framing: 1002), applied
to the room's Doc (undecodable: 1003), then fanned out (rooms/fanout.py). An event-stream socket
gets a welcome and the replay it asked for, then live events; it may send chat and pings. Every
failure ends in a close code (rooms/close_codes.py, docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from rooms import close_codes
from rooms.awareness import AwarenessChanges
from rooms.connection import Connection, TokenBucket, Transport
from rooms.credentials import CredentialCloser
from rooms.events import EventStream
from rooms.fanout import Fanout
from rooms.hooks import (
    AuthenticatePayload,
    ConnectPayload,
    DisconnectPayload,
    MessagePayload,
    Reject,
)
from rooms.protocol import (
    AWARENESS_PREFIX,
    KEEPALIVE,
    PONG,
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
    error_message,
)
from rooms.registry import Registry
from rooms.room import Room
from rooms.runtime import Runtime
from rooms.stats import ROOM_STATS
from rooms.types import ConnectionContext, ConnectionKind, Origin, RequestInfo, is_valid_room_id

log = logging.getLogger(__name__)

YIELD_EVERY = 8


class Sessions:
    def __init__(
        self,
        runtime: Runtime,
        registry: Registry,
        fanout: Fanout,
        events: EventStream,
        credentials: CredentialCloser,
    ) -> None:
        self._rt = runtime
        self._registry = registry
        self._fanout = fanout
        self._events = events
        self._credentials = credentials
        self._admissions = asyncio.Semaphore(runtime.config.max_concurrent_admissions)
        self.admissions_refused = 0  # sockets answered 1013 (for metrics and tests)

    async def serve(
        self,
        transport: Transport,
        room_id: str,
        request: RequestInfo,
        kind: ConnectionKind,
        since: str | None,
    ) -> None:
        """Serve one accepted socket until it closes; every failure becomes a close code."""
        conn = self._open(transport, room_id, request, kind)
        ROOM_STATS.sockets_opened += 1
        self._credentials.live.add(conn)
        try:
            try:
                room = await self._admit(conn, request, since)
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
            await self._end(conn)

    def _open(
        self, transport: Transport, room_id: str, request: RequestInfo, kind: ConnectionKind
    ) -> Connection:
        config = self._rt.config
        ctx = ConnectionContext(
            connection_id=uuid.uuid4().hex,
            room_id=room_id,
            kind=kind,
            request=request,
            role=config.default_role,
        )
        conn = Connection(
            transport,
            ctx,
            queue_size=config.outbound_queue,
            close_timeout=config.close_timeout,
            limiter=TokenBucket(config.messages_per_second, config.message_burst),
            on_close=_detach,
            echo_byte_cap=config.max_message_bytes,
        )
        conn.session_task = asyncio.current_task()
        conn.start()
        return conn

    async def _admit(self, conn: Connection, request: RequestInfo, since: str | None) -> Room:
        """Authenticate the socket and join it to its room (loaded if needed), or ``Reject``.
        ``conn.room`` is set as soon as the room is acquired (``_end`` releases it)."""
        ctx = conn.context
        room_id, kind = ctx.room_id, ctx.kind
        since_seq = _parse_since(since) if kind is ConnectionKind.EVENTS else None
        if self._rt.stopping:
            raise Reject(close_codes.GOING_AWAY)
        if not is_valid_room_id(room_id):
            raise Reject(close_codes.NO_SUCH_ROOM, "invalid room id")
        hooks, config = self._rt.hooks, self._rt.config
        async with self._admission():
            began = time.monotonic()
            await hooks.run("on_connect", ConnectPayload(room_id, ctx))
            await hooks.run("on_authenticate", AuthenticatePayload(room_id, ctx, request.token))
            self._credentials.refuse_ended(ctx, began)
            if config.require_authentication and not ctx.authenticated:
                raise Reject(close_codes.UNAUTHENTICATED)
            if (
                kind is ConnectionKind.YJS
                and await self._member_total(room_id) >= config.max_members
            ):
                raise Reject(close_codes.ROOM_FULL)
            room = await self._registry.acquire(room_id)
            conn.room = room
            if kind is ConnectionKind.YJS:
                await self._join_yjs(room, conn)
            else:
                await self._join_events(room, conn, since_seq)
        return room

    async def _end(self, conn: Connection) -> None:
        self._credentials.live.discard(conn)
        if not conn.closing:
            conn.mark_gone(transport_code(conn.transport))
        room: Room | None = conn.room
        if room is not None:
            await self._leave(room, conn)
        ctx = conn.context
        await self._rt.hooks.notify(
            "on_disconnect",
            DisconnectPayload(ctx.room_id, ctx, conn.close_code or close_codes.NORMAL),
        )
        await conn.finish()
        if room is not None:
            self._registry.release(room)

    @contextlib.asynccontextmanager
    async def _admission(self) -> AsyncIterator[None]:
        """Bound the handshakes in progress (each costs database and presence round trips): a
        burst of thousands would exhaust the DB pool and end in 1011 for most of them. Those
        that cannot start within ``admission_timeout`` get 1013, which stock clients retry."""
        try:
            async with asyncio.timeout(self._rt.config.admission_timeout):
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
            return await self._rt.presence.count(room_id)
        except Exception:
            log.warning("presence count failed", extra={"room": room_id}, exc_info=True)
            room = self._rt.rooms.get(room_id)
            return len(room.yjs) if room is not None else 0

    async def _member_event(self, room: Room, event_type: str, ctx: ConnectionContext) -> None:
        try:
            count = await self._member_total(room.room_id)
            await self._events.emit(
                room.room_id, event_type, {**ctx.member_info(), "count": count}, persist=False
            )
        except Reject:
            pass  # an extension chose to suppress member events
        except Exception:
            log.exception("member event failed", extra={"room": room.room_id})

    async def _leave(self, room: Room, conn: Connection) -> None:
        room.remove(conn)
        if conn.context.kind is not ConnectionKind.YJS:
            return
        released = room.awareness.release(conn, time.monotonic())
        if released:
            # At once, so cursors vanish now rather than after the 30 s awareness timeout.
            removed = [entry.client_id for entry in released]
            changes = AwarenessChanges(released, removed=removed)
            await self._fanout.awareness(room, changes, None, Origin.LOCAL)
        try:
            await self._rt.presence.leave(room.room_id, conn.connection_id)
        except Exception:
            log.exception("presence leave failed", extra={"room": room.room_id})
        await self._member_event(room, "member.left", conn.context)

    # --- y-websocket sockets ----------------------------------------------------------------

    async def _join_yjs(self, room: Room, conn: Connection) -> None:
        room.yjs[conn] = None
        # Both at once: a newcomer must see the peers right away.
        conn.send(encode_sync_step1(room.doc.get_state()))
        awareness = room.awareness_frame()
        if awareness is not None and conn.send(awareness):
            conn.grant_echo(awareness)
        ctx = conn.context
        try:
            await self._rt.presence.join(
                room.room_id, ctx.connection_id, ctx.member_info(), self._rt.config.presence_ttl
            )
        except Exception:
            log.exception("presence join failed", extra={"room": room.room_id})
        await self._member_event(room, "member.joined", ctx)

    async def _read_yjs(self, room: Room, conn: Connection) -> None:
        max_bytes = self._rt.config.max_message_bytes
        hooks = self._rt.hooks
        check_hook = hooks.has("before_handle_message")
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
                await hooks.run(
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
            await self._handle_sync(room, conn, message)
        elif isinstance(message, AwarenessMessage):
            await self._handle_awareness(room, conn, message, uncharged)
        elif isinstance(message, QueryAwarenessMessage):
            answer = room.awareness_frame()
            if answer is None:
                conn.send(KEEPALIVE)
            elif conn.send(answer):
                conn.grant_echo(answer)
        # AuthMessage: only servers send those (permission denied); a client's is ignored.

    async def _handle_sync(self, room: Room, conn: Connection, message: SyncMessage) -> None:
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
            await self._fanout.change(room, delta, Origin.CONNECTION, conn)

    async def _handle_awareness(
        self, room: Room, conn: Connection, message: AwarenessMessage, uncharged: int
    ) -> None:
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
            await self._fanout.awareness(room, changes, conn, Origin.CONNECTION)

    # --- event-stream sockets ---------------------------------------------------------------

    async def _join_events(self, room: Room, conn: Connection, since: int | None) -> None:
        ctx = conn.context
        conn.replaying = True  # live events are held until the replay is out
        room.events[conn] = None
        last = await self._rt.store.last_seq(room.room_id)
        if len(room.events) == 1:
            # The only event socket: everything up to its welcome is history to it.
            room.skip_events(last)
        try:
            members = await self._rt.presence.members(room.room_id)
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
            await self._replay(room, conn, since, last)
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

    async def _replay(self, room: Room, conn: Connection, since: int, last: int) -> None:
        """The stored events after ``since``, or ``resync`` when the store no longer has them."""
        events = await self._rt.store.events_since(
            room.room_id, since, limit=self._rt.config.replay_limit
        )
        if events is None:
            ROOM_STATS.client_resyncs += 1
            conn.send(encode_json({"type": "resync", "seq": last}))
            conn.seen_seq = max(since, last)
        else:
            for event in events:
                conn.send(event.to_json())
                conn.seen_seq = max(conn.seen_seq, event.seq)

    async def _read_events(self, room: Room, conn: Connection) -> None:
        max_bytes = self._rt.config.max_message_bytes
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
            message = decode_client_event(frame, max_chat_chars=self._rt.config.max_chat_chars)
            await self._rt.hooks.run(
                "before_handle_message", MessagePayload(room.room_id, conn.context, message)
            )
            if conn.closing:
                return
            if message.type == "ping":
                conn.send(PONG)
                continue
            await self._chat(room, conn.context, message.data["text"])

    async def _chat(self, room: Room, ctx: ConnectionContext, text: str) -> None:
        await self._events.emit(
            room.room_id,
            "chat.message",
            {
                "text": text,
                "user_id": ctx.user_id,
                "name": ctx.display_name,
                "connection_id": ctx.connection_id,
            },
            persist=True,
            connection=ctx,
        )


def _detach(conn: Connection) -> None:
    room = conn.room
    if room is not None:
        room.remove(conn)


def _parse_since(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise EventProtocolError("invalid_since", "since must be a non-negative integer")
    return int(raw)


def transport_code(transport: Transport) -> int:
    code = getattr(transport, "disconnect_code", None)
    return code if isinstance(code, int) else close_codes.NORMAL
