"""The live notification sockets of one web process (``/api/v1/notifications/live``).

Each socket belongs to one signed-in user and listens on that user's stream
(``hub.notifications.stream``) through the process's broadcast, so a notice or a "read" made on
any process reaches it. It is authenticated at the handshake like a room socket (``?token=`` or
the session cookie; a foreign ``Origin`` is refused before accepting) and lives only as long as
that credential: whatever ends the credential (sign-out, a revoked token, a password change) closes
it with 4401, on this process through :meth:`NotificationsComponent.close_credentials` (the
composition root makes it part of ``ctx.sockets``) and on the others through the rooms'
connections channel, which this component also listens to. After a bus outage the credentials
of open sockets are checked again, as rooms do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from hub.accounts import credentials
from hub.accounts.deps import Actor, authenticate_websocket
from hub.errors import database_unavailable
from hub.notifications.schemas import LiveHello
from hub.notifications.service import unread_count
from hub.notifications.stream import user_channel
from rooms import close_codes
from rooms.bus import BusMessage, Subscription
from rooms.credentials import ENDED_KEYS_TTL, connections_channel, parse_close_matching

if TYPE_CHECKING:
    from hub.broadcast import Broadcast
    from hub.context import HubContext

log = logging.getLogger(__name__)

# Messages waiting for one socket; a client that falls this far behind is closed with 4508 and
# reconnects (its page reloads the list): the server never buffers without bound.
MAX_PENDING: Final = 64


@dataclass(eq=False)
class LiveStream:
    """One open socket: its user, the credential keys that admitted it, what waits to be sent."""

    user_id: int
    keys: frozenset[str]
    pending: deque[str] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    close_reason: str = ""

    def push(self, text: str) -> None:
        if self.close_code is not None:
            return
        if len(self.pending) >= MAX_PENDING:
            self.close(close_codes.SLOW_CONSUMER, "slow consumer")
            return
        self.pending.append(text)
        self.wake.set()

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.wake.set()

    async def on_message(self, message: BusMessage) -> None:
        self.push(message.payload.decode())


class NotificationsComponent:
    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.streams: set[LiveStream] = set()
        # Credential keys closed recently (key -> monotonic time): a handshake that checked its
        # credential just before it ended is refused after the fact.
        self.ended: dict[str, float] = {}
        self._control: Subscription | None = None

    @property
    def broadcast(self) -> Broadcast:
        broadcast = self.ctx.db.broadcast
        if broadcast is None:
            raise RuntimeError("the notifications component needs Database.broadcast")
        return broadcast

    async def start(self) -> None:
        channel = connections_channel(self.ctx.settings.room_channel_prefix)
        self._control = await self.ctx.bus.subscribe(channel, self._on_control)
        self.ctx.bus.on_reconnect(self._recheck_credentials)

    async def stop(self) -> None:
        for stream in list(self.streams):
            stream.close(close_codes.GOING_AWAY, "server going away")
        if self._control is not None:
            with contextlib.suppress(Exception):
                await self._control.unsubscribe()

    # --- closing by credential ---------------------------------------------------------------

    async def close_credentials(self, keys: Sequence[str], reason: str) -> None:
        """This process ended these credentials: close their sockets here (the rooms component
        tells the other processes, whose components hear it on the connections channel)."""
        self.close_local(keys, close_codes.UNAUTHENTICATED, reason)

    def close_local(self, keys: Iterable[str], code: int, reason: str) -> int:
        now = time.monotonic()
        for key, at in list(self.ended.items()):
            if now - at > ENDED_KEYS_TTL:
                del self.ended[key]
        wanted = frozenset(keys)
        for key in wanted:
            self.ended[key] = now
        targets = [s for s in self.streams if s.keys & wanted]
        for stream in targets:
            stream.close(code, reason)
        return len(targets)

    async def _on_control(self, message: BusMessage) -> None:
        try:
            keys, code, reason = parse_close_matching(message.payload)
        except ValueError:
            return  # the rooms' closer logs malformed messages on this channel
        self.close_local(keys, code, reason)

    async def _recheck_credentials(self) -> None:
        held = {key for stream in self.streams for key in stream.keys}
        if not held:
            return
        try:
            async with self.ctx.db.unit_of_work() as session:
                ended = await credentials.ended_credentials(session, held)
        except Exception:
            log.exception("notification socket credential recheck failed")
            return
        if ended:
            self.close_local(ended, close_codes.UNAUTHENTICATED, credentials.SIGNED_OUT)

    # --- serving a socket --------------------------------------------------------------------

    def _origin_allowed(self, websocket: WebSocket) -> bool:
        # Browsers always send Origin on a WebSocket handshake; a missing one is a script, which
        # cannot ride on a visitor's cookie (it still needs a credential).
        origin = websocket.headers.get("origin")
        allowed = {o.rstrip("/").lower() for o in self.ctx.settings.allowed_origins}
        return origin is None or origin.rstrip("/").lower() in allowed

    async def _authenticate(self, websocket: WebSocket) -> Actor | int:
        """The actor, or the close code to refuse the socket with."""
        began = time.monotonic()
        token = websocket.query_params.get("token")
        try:
            actor = await authenticate_websocket(websocket, token)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return close_codes.TRY_AGAIN_LATER
        if actor is None:
            return close_codes.UNAUTHENTICATED
        if any(self.ended.get(key, 0.0) >= began for key in credentials.actor_keys(actor)):
            return close_codes.UNAUTHENTICATED
        return actor

    async def _hello(self, websocket: WebSocket, actor: Actor) -> None:
        async with self.ctx.db.unit_of_work() as session:
            count = await unread_count(session, actor.user_id)
        await websocket.send_text(LiveHello(unread_count=count).model_dump_json())

    async def serve(self, websocket: WebSocket) -> None:
        if not self._origin_allowed(websocket):
            await websocket.close(close_codes.POLICY_VIOLATION)  # before accept: HTTP 403
            return
        await websocket.accept()
        actor = await self._authenticate(websocket)
        if isinstance(actor, int):
            await websocket.close(actor, close_codes.describe(actor))
            return
        stream = LiveStream(actor.user_id, credentials.actor_keys(actor))
        self.streams.add(stream)
        subscription: Subscription | None = None
        try:
            channel = user_channel(self.ctx.settings, actor.user_id)
            subscription = await self.broadcast.subscribe(channel, stream.on_message)
            await self._hello(websocket, actor)
            await _pump(websocket, stream)
        except WebSocketDisconnect:
            pass  # the client left during the hello
        finally:
            self.streams.discard(stream)
            if subscription is not None:
                await subscription.unsubscribe()


async def _send_loop(websocket: WebSocket, stream: LiveStream) -> None:
    while True:
        await stream.wake.wait()
        stream.wake.clear()
        if stream.close_code is not None:
            await websocket.close(stream.close_code, stream.close_reason)
            return
        while stream.pending:
            await websocket.send_text(stream.pending.popleft())


async def _receive_loop(websocket: WebSocket) -> None:
    # Nothing is expected from the client; reading notices its disconnect.
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _pump(websocket: WebSocket, stream: LiveStream) -> None:
    sender = asyncio.create_task(_send_loop(websocket, stream), name="notifications-send")
    receiver = asyncio.create_task(_receive_loop(websocket), name="notifications-receive")
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if websocket.application_state == WebSocketState.CONNECTED and stream.close_code is None:
        with contextlib.suppress(Exception):
            await websocket.close(close_codes.NORMAL)


async def start_notifications(ctx: HubContext) -> NotificationsComponent:
    component = NotificationsComponent(ctx)
    await component.start()
    return component
