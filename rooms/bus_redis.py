"""Redis pub/sub backend for the room bus (scaled mode).

Why our own client loop rather than ``broadcaster`` or redis-py's ``PubSub``: see
docs/decisions/0003-bus-reconnect-and-resync.md. In short, subscriptions must be confirmed before
``subscribe()`` returns, payloads are arbitrary bytes, and a dead connection (restart, silent
network cut) must be noticed and repaired under supervision, followed by a resync.

Shape:

* one **subscriber connection** (RESP2) for every channel, kept alive by a supervisor
  (rooms/redis_subscriber.py): each session subscribes every channel and waits for every
  confirmation, then a reader and a ping watchdog run until either fails; then back off,
  reconnect, resubscribe, and call every ``on_reconnect`` callback.
* one **publisher connection**, used by a single task that pipelines whatever is queued (one
  round trip for many ``PUBLISH`` commands). ``publish()`` fails fast with
  :class:`~rooms.bus.BusUnavailable` while the bus is reconnecting, when the bounded queue is
  full, or when Redis does not acknowledge within ``op_timeout``. Nothing is buffered for later.
  ``publish_nowait()`` queues on the same FIFO (so order is kept) and returns at once; a later
  failure is counted, logged and followed by the ``on_reconnect`` callbacks (a resync).
* a **dispatcher** task calls handlers in arrival order from a bounded inbox. If handlers fall so
  far behind that the inbox overflows, messages are dropped and the ``on_reconnect`` callbacks run
  once the backlog is drained, because a gap needs the same repair as an outage.

The frame messages travel in and the connection helpers: rooms/redis_link.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from rooms.bus import (
    BusMessage,
    BusUnavailable,
    Handler,
    OnceSubscription,
    ReconnectCallback,
    Subscription,
    check_channel,
    check_payload,
    new_instance_id,
)
from rooms.redis_link import (
    BusStats,
    close_quietly,
    connection_options,
    decode_frame,
    describe,
    encode_frame,
    frame_header,
    new_connection,
    open_connection,
    redact_url,
)
from rooms.redis_subscriber import Channel, Subscriber, Timing

log = logging.getLogger(__name__)

_MAX_BATCH = 256  # PUBLISH commands per pipelined round trip


@dataclass(eq=False)
class _Pending:
    args: tuple[Any, ...]
    future: asyncio.Future[Any] | None  # None: fire and forget (``publish_nowait``)


class RedisBus:
    """:class:`rooms.bus.Bus` over Redis pub/sub. See the module docstring for the design.

    ``url`` accepts ``redis://``, ``rediss://`` and ``unix://`` URLs (credentials included);
    only a redacted form is ever logged. ``instance_id`` must be unique per process: a bus drops
    frames carrying its own id.
    """

    def __init__(
        self,
        url: str,
        *,
        instance_id: str | None = None,
        channel_prefix: str = "hub:",
        connect_timeout: float = 5.0,
        op_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        max_inbox: int = 10_000,
        max_outbox: int = 10_000,
        max_payload: int = 1 << 20,
    ) -> None:
        self.instance_id = instance_id or new_instance_id()
        if not self.instance_id.isascii() or not 0 < len(self.instance_id) < 256:
            raise ValueError("instance_id must be 1-255 ASCII characters")
        _check_seconds(
            connect_timeout=connect_timeout,
            op_timeout=op_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        if min(max_inbox, max_outbox, max_payload) < 1:
            raise ValueError("max_inbox, max_outbox and max_payload must be positive")
        self.url = redact_url(url)
        self._options = connection_options(url, connect_timeout)
        self._prefix = channel_prefix.encode()
        self._header = frame_header(self.instance_id)
        self._connect_timeout = connect_timeout
        self._op_timeout = op_timeout
        self._max_inbox = max_inbox
        self._max_outbox = max_outbox
        self._max_payload = max_payload
        self.stats = BusStats()
        self._channels: dict[bytes, Channel] = {}
        self._subscriber = Subscriber(
            url=self.url,
            instance_id=self.instance_id,
            connect=lambda: self._new_connection("sub"),
            channels=self._channels,
            timing=Timing(
                connect_timeout, ping_interval, ping_timeout, backoff_initial, backoff_max
            ),
            stats=self.stats,
            on_message=self._receive,
            on_reconnect=lambda: self._run_callbacks("reconnect"),
        )
        self._reconnect_callbacks: list[ReconnectCallback] = []
        self._overflowed = False
        self._repair_scheduled = False
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._inbox: asyncio.Queue[tuple[bytes, str, bytes, float]] = asyncio.Queue(max_inbox)
        self._outbox: asyncio.Queue[_Pending] = asyncio.Queue(max_outbox)

    def __repr__(self) -> str:
        return f"RedisBus(url={self.url!r}, instance_id={self.instance_id!r})"

    # -- public API ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up and every channel is confirmed."""
        return self._subscriber.connected.is_set()

    @property
    def last_error(self) -> str:
        """Why the last session ended or the last connection attempt failed (no secrets)."""
        return self._subscriber.last_error

    async def start(self) -> None:
        """Connect, or raise :class:`BusUnavailable` after ``connect_timeout`` seconds.

        A failed start leaves nothing running; after a successful one the bus repairs itself."""
        if self._running:
            return
        self._running = True
        self._inbox = asyncio.Queue(self._max_inbox)
        self._outbox = asyncio.Queue(self._max_outbox)
        sub = self._subscriber
        sub.reset()
        self._tasks = [
            asyncio.create_task(sub.supervise(), name=f"bus-supervisor-{self.instance_id}"),
            asyncio.create_task(self._dispatch(), name=f"bus-dispatch-{self.instance_id}"),
            asyncio.create_task(self._publish_loop(), name=f"bus-publish-{self.instance_id}"),
        ]
        waiters = [asyncio.ensure_future(event.wait()) for event in (sub.connected, sub.refused)]
        try:
            await asyncio.wait(
                waiters, timeout=self._connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        if not sub.connected.is_set():
            # Unreachable: give up after connect_timeout. Refused: waiting would not help.
            error = sub.last_error
            await self.stop()
            raise BusUnavailable(
                f"redis bus could not connect to {self.url} within {self._connect_timeout} s"
                f" ({error})"
            )
        log.info("redis bus %s connected to %s", self.instance_id, self.url)

    async def stop(self) -> None:
        """Cancel every task, close both connections, fail queued publishes; idempotent."""
        if not self._running:
            return
        self._running = False
        tasks = [*self._tasks, *self._callback_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._callback_tasks.clear()
        while not self._outbox.empty():
            pending = self._outbox.get_nowait()
            _settle(pending, error=BusUnavailable("redis bus stopped"))
        self._channels.clear()
        self._subscriber.reset()

    async def publish(self, channel: str, payload: bytes) -> None:
        key = self._key(check_channel(channel))
        data = check_payload(payload)
        if len(data) > self._max_payload:
            raise ValueError(f"bus payload exceeds {self._max_payload} bytes")
        await self._execute(("PUBLISH", key, encode_frame(self._header, data)))
        self.stats.published += 1

    def publish_nowait(self, channel: str, payload: bytes) -> None:
        """Queue one ``PUBLISH`` behind everything already queued and return: the caller (a
        socket's read loop) must not wait a Redis round trip per update. Fails at once like
        ``publish`` when the bus is down or the queue is full; a failure of the batch it later
        travels in is counted in ``stats.publish_failures``, logged, and answered with the
        ``on_reconnect`` callbacks (rooms resync, which carries the lost update)."""
        key = self._key(check_channel(channel))
        data = check_payload(payload)
        if len(data) > self._max_payload:
            raise ValueError(f"bus payload exceeds {self._max_payload} bytes")
        self._check_ready()
        try:
            self._outbox.put_nowait(
                _Pending(("PUBLISH", key, encode_frame(self._header, data)), None)
            )
        except asyncio.QueueFull:
            self.stats.publish_failures += 1
            raise BusUnavailable("redis bus publish queue is full") from None

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        """Returns once Redis confirmed the subscription; :class:`BusUnavailable` if it does not
        within ``op_timeout`` (the handler is then not registered)."""
        key = self._key(check_channel(channel))
        if not self._running:
            raise BusUnavailable("redis bus is not started")
        entry = self._channels.get(key)
        if entry is None:
            entry = self._channels[key] = Channel(channel, [handler])
            # When disconnected the supervisor subscribes it with the next session.
            await self._subscriber.subscribe([key])
        else:
            entry.handlers.append(handler)
        try:
            async with asyncio.timeout(self._op_timeout):
                await entry.confirmed.wait()
        except TimeoutError:
            await self._remove_handler(key, handler)
            raise BusUnavailable(
                f"redis did not confirm the subscription to {channel!r} within"
                f" {self._op_timeout} s ({self._subscriber.last_error})"
            ) from None
        return OnceSubscription(functools.partial(self._remove_handler, key, handler))

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        self._reconnect_callbacks.append(callback)

    async def ping(self) -> bool:
        """A PING round trip on the publisher connection, and the subscriber must be live."""
        try:
            reply = await self._execute(("PING",))
        except BusUnavailable:
            return False
        return reply in (b"PONG", "PONG", True)

    # -- channels --------------------------------------------------------------------------

    def _new_connection(self, role: str) -> AbstractConnection:
        return new_connection(self._options, role, self.instance_id)

    def _key(self, channel: str) -> bytes:
        return self._prefix + channel.encode()

    async def _remove_handler(self, key: bytes, handler: Handler) -> None:
        entry = self._channels.get(key)
        if entry is None or handler not in entry.handlers:
            return
        entry.handlers.remove(handler)
        if entry.handlers:
            return
        del self._channels[key]
        await self._subscriber.unsubscribe(key)

    def _receive(self, key: bytes, data: bytes) -> None:
        frame = decode_frame(data)
        if frame is None:
            self.stats.malformed_dropped += 1
            if self.stats.malformed_dropped % 1000 == 1:
                log.warning(
                    "bus dropped %d frames that are not bus frames",
                    self.stats.malformed_dropped,
                    extra={"channel": key.decode(errors="replace")},
                )
            return
        sender, payload = frame
        if sender == self.instance_id:
            self.stats.echoes_dropped += 1
            return
        try:
            self._inbox.put_nowait((key, sender, payload, time.monotonic()))
        except asyncio.QueueFull:
            self.stats.overflow_dropped += 1
            if not self._overflowed:
                log.warning("bus inbox full; dropping messages until handlers catch up")
            self._overflowed = True

    # -- dispatcher ------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while self._running:
            key, sender, payload, arrived = await self._inbox.get()
            entry = self._channels.get(key)
            if entry is not None:
                self.stats.observe_lag(time.monotonic() - arrived)
                message = BusMessage(channel=entry.name, sender=sender, payload=payload)
                self.stats.delivered += 1
                for handler in list(entry.handlers):
                    try:
                        await handler(message)
                    except Exception:  # one bad handler must not stop delivery to the rest
                        self.stats.handler_errors += 1
                        log.exception("bus handler failed", extra={"channel": entry.name})
            if self._overflowed and self._inbox.empty():
                self._overflowed = False
                self._run_callbacks("inbox overflow")

    def _run_callbacks(self, reason: str) -> None:
        self.stats.resyncs += 1
        task = asyncio.create_task(self._call_callbacks(reason))
        self._callback_tasks.add(task)
        task.add_done_callback(self._callback_tasks.discard)

    async def _call_callbacks(self, reason: str) -> None:
        # Off the reader's path: a resync publishes and reads the store, which may take a while.
        self._repair_scheduled = False  # failures from now on need a repair of their own
        for callback in list(self._reconnect_callbacks):
            try:
                await callback()
            except Exception:
                log.exception("bus reconnect callback failed", extra={"reason": reason})

    # -- publisher -------------------------------------------------------------------------

    def _check_ready(self) -> None:
        if not self._running:
            raise BusUnavailable("redis bus is not started")
        if not self._subscriber.connected.is_set():
            self.stats.publish_failures += 1
            raise BusUnavailable(f"redis bus is reconnecting ({self._subscriber.last_error})")

    def _lost_nowait(self, count: int, error: BaseException) -> None:
        """Fire-and-forget publishes failed: nobody awaits them, so count, log and resync."""
        self.stats.publish_failures += count
        log.warning("redis bus lost %d queued publishes (%s)", count, describe(error))
        # While disconnected the reconnect runs the callbacks anyway; one repair is enough.
        if self._running and self._subscriber.connected.is_set() and not self._repair_scheduled:
            self._repair_scheduled = True
            self._run_callbacks("publish failed")

    async def _execute(self, args: tuple[Any, ...]) -> Any:
        self._check_ready()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            self._outbox.put_nowait(_Pending(args, future))
        except asyncio.QueueFull:
            self.stats.publish_failures += 1
            raise BusUnavailable("redis bus publish queue is full") from None
        try:
            async with asyncio.timeout(self._op_timeout):
                return await future  # a timeout cancels it, and the publisher skips it
        except TimeoutError:
            self.stats.publish_failures += 1
            raise BusUnavailable(f"redis did not acknowledge within {self._op_timeout} s") from None
        except BusUnavailable:
            self.stats.publish_failures += 1
            raise

    async def _publish_loop(self) -> None:
        conn: AbstractConnection | None = None
        generation = -1
        batch: list[_Pending] = []
        try:
            while self._running:
                batch = [await self._outbox.get()]
                while len(batch) < _MAX_BATCH and not self._outbox.empty():
                    batch.append(self._outbox.get_nowait())
                batch = [p for p in batch if p.future is None or not p.future.done()]
                if not batch:
                    continue
                try:
                    if (
                        conn is None
                        or generation != self._subscriber.generation
                        or not conn.is_connected
                    ):
                        if conn is not None:
                            await close_quietly(conn)
                        conn, generation = self._new_connection("pub"), self._subscriber.generation
                        await open_connection(conn, self._connect_timeout)
                    await self._send_batch(conn, batch)
                except Exception as exc:
                    error = BusUnavailable(f"redis publish failed ({describe(exc)})")
                    for pending in batch:
                        _settle(pending, error=error)
                    lost = sum(1 for pending in batch if pending.future is None)
                    if lost:
                        self._lost_nowait(lost, error)
                    if conn is not None:
                        await close_quietly(conn)
                    conn = None
        finally:
            for pending in batch:  # stopped mid-flight: tell the callers now, not at their timeout
                _settle(pending, error=BusUnavailable("redis bus stopped"))
            if conn is not None:
                await close_quietly(conn)

    async def _send_batch(self, conn: AbstractConnection, batch: list[_Pending]) -> None:
        async with asyncio.timeout(self._op_timeout):
            packed = conn.pack_commands([pending.args for pending in batch])
            await conn.send_packed_command(packed, check_health=False)
            for pending in batch:
                try:
                    reply = await conn.read_response()
                except ResponseError as exc:  # e.g. an ACL forbids the channel
                    error = BusUnavailable(f"redis refused: {exc}")
                    if pending.future is None:
                        self._lost_nowait(1, error)
                    _settle(pending, error=error)
                else:
                    if pending.future is None:
                        self.stats.published += 1
                    _settle(pending, result=reply)


def _settle(pending: _Pending, *, result: Any = None, error: BaseException | None = None) -> None:
    if (
        pending.future is None or pending.future.done()
    ):  # the caller gave up (timeout or cancellation)
        return
    if error is not None:
        pending.future.set_exception(error)
    else:
        pending.future.set_result(result)


def _check_seconds(**durations: float) -> None:
    for name, value in durations.items():
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds")
