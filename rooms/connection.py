"""One socket of a room: a bounded outbound queue drained by one writer task.

Fan-out never awaits a recipient: it appends the (already encoded, shared) frame to each
socket's queue. A socket whose queue is full does not read fast enough; it is closed with 4508
(transient: the client reconnects and resyncs) instead of letting memory grow (pycrdt-websocket
starts a task per recipient per update with no bound, and its latency grows to seconds; ADR 0002).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from rooms import close_codes
from rooms.types import ConnectionContext, Event

log = logging.getLogger(__name__)

Frame = bytes | str


class Transport(Protocol):
    """What the core needs from a WebSocket (``rooms.asgi`` adapts Starlette's)."""

    async def receive(self) -> Frame | None:
        """Next message; ``None`` once the peer is gone."""

    async def send_bytes(self, data: bytes) -> None: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class TokenBucket:
    """Per-socket message rate limit: ``rate`` per second sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Connection:
    def __init__(
        self,
        transport: Transport,
        context: ConnectionContext,
        *,
        queue_size: int,
        close_timeout: float,
        limiter: TokenBucket,
        on_close: Callable[[Connection], None] | None = None,
        echo_byte_cap: int = 262_144,
    ) -> None:
        self.transport = transport
        self.context = context
        self.limiter = limiter
        self.last_send = time.monotonic()
        self.close_code: int | None = None
        self.aborted = False  # the session task was cancelled because the close never finished
        self.session_task: asyncio.Task[object] | None = None
        self._queue: deque[Frame] = deque()
        self._queue_size = queue_size
        self._close_timeout = close_timeout
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._on_close = on_close
        self.room: Any = None  # the rooms.room.Room it joined (set by the server)
        # Awareness the client may send back without spending rate-limit tokens (stock clients
        # echo every awareness frame they apply): frames and bytes, see ``grant_echo``.
        self.echo_frames = 0
        self.echo_bytes = 0
        self._echo_byte_cap = echo_byte_cap
        # Event-stream sockets hold live events back while their replay is being sent.
        self.replaying = False
        self.held: list[Event] = []
        self.seen_seq = 0  # stored events up to this seq were sent (or predate the socket)

    @property
    def connection_id(self) -> str:
        return self.context.connection_id

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def start(self) -> None:
        self._writer = asyncio.create_task(
            self._write_loop(), name=f"ws-writer-{self.connection_id}"
        )

    def send(self, frame: Frame) -> bool:
        """Queue ``frame`` (shared by every recipient, never copied). False if not queued."""
        if self.close_code is not None:
            return False
        if len(self._queue) >= self._queue_size:
            log.warning(
                "closing slow consumer",
                extra={"connection_id": self.connection_id, "room": self.context.room_id},
            )
            self.close(close_codes.SLOW_CONSUMER, drain=False)
            return False
        self._queue.append(frame)
        self.last_send = time.monotonic()
        self._wake.set()
        return True

    def grant_echo(self, frame: bytes) -> None:
        """``frame`` (awareness) was queued here: one frame of at most its size may come back
        without counting against the rate limit. Counted in frames too, so the credit cannot be
        split into many small messages, and capped (one queue's worth) so it cannot be hoarded."""
        self.echo_frames = min(self._queue_size, self.echo_frames + 1)
        self.echo_bytes = min(self._echo_byte_cap, self.echo_bytes + len(frame))

    def may_echo(self, size: int) -> bool:
        return self.echo_frames > 0 and size <= self.echo_bytes

    def spend_echo(self, size: int) -> None:
        self.echo_frames -= 1
        self.echo_bytes -= size

    async def _write_loop(self) -> None:
        try:
            while True:
                while self._queue:
                    frame = self._queue.popleft()
                    if isinstance(frame, bytes):
                        await self.transport.send_bytes(frame)
                    else:
                        await self.transport.send_text(frame)
                if self.close_code is not None:
                    return  # drained: the closer sends the close frame now
                self._wake.clear()
                await self._wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The peer is gone (send after disconnect); the reader sees the disconnect too.
            self.mark_gone(close_codes.GOING_AWAY)

    def close(self, code: int, reason: str = "", *, drain: bool = True) -> None:
        """Close with ``code`` (idempotent). ``drain``: send what is queued first (an ``error``
        message before its close, say); a slow consumer is closed without draining."""
        if self.close_code is not None:
            return
        self.close_code = code
        if self._on_close is not None:
            self._on_close(self)  # stop fan-out to this socket at once
        self._closer = asyncio.create_task(
            self._run_close(code, _close_reason(reason or close_codes.describe(code)), drain),
            name=f"ws-closer-{self.connection_id}",
        )

    def mark_gone(self, code: int) -> None:
        """The peer disconnected on its own: nothing to send any more."""
        if self.close_code is None:
            self.close_code = code
            if self._on_close is not None:
                self._on_close(self)
        self._queue.clear()
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()

    async def _run_close(self, code: int, reason: str, drain: bool) -> None:
        writer = self._writer
        try:
            if writer is not None and not writer.done():
                if drain:
                    self._wake.set()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(writer, self._close_timeout)
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
            self._queue.clear()
            await asyncio.wait_for(self.transport.close(code, reason), self._close_timeout)
        except TimeoutError:
            # The peer does not read, so even the close frame cannot be written. Stop serving
            # it: cancel the session task (the ASGI server then drops the transport).
            self._abort()
        except Exception:
            log.debug("close after disconnect", extra={"connection_id": self.connection_id})

    def _abort(self) -> None:
        task = self.session_task
        if task is not None and not task.done():
            self.aborted = True
            task.cancel()

    async def finish(self) -> None:
        """Wait for the writer and any close in progress (bounded by ``close_timeout``)."""
        if self._closer is not None and self._closer is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._closer
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer


def _close_reason(reason: str) -> str:
    # A close frame's reason is limited to 123 UTF-8 bytes; never split a character.
    return reason.encode("utf-8")[:120].decode("utf-8", errors="ignore")
