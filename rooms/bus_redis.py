"""Redis pub/sub backend for the room bus (scaled mode).

Why our own client loop rather than ``broadcaster`` or redis-py's ``PubSub``: see
docs/decisions/0003-bus-reconnect-and-resync.md. In short, subscriptions must be confirmed before
``subscribe()`` returns, payloads are arbitrary bytes, and a dead connection (restart, silent
network cut) must be noticed and repaired under supervision, followed by a resync.

Shape:

* one **subscriber connection** (RESP2) for every channel, owned by a supervisor task. Each
  session: connect, ``SUBSCRIBE`` all channels (500 per command), wait for every confirmation,
  then run a reader and a ping watchdog side by side until either fails. Then back off (capped
  exponential, jitter), reconnect, resubscribe, and call every ``on_reconnect`` callback.
* one **publisher connection**, used by a single task that pipelines whatever is queued (one
  round trip for many ``PUBLISH`` commands). ``publish()`` fails fast with
  :class:`~rooms.bus.BusUnavailable` while the bus is reconnecting, when the bounded queue is
  full, or when Redis does not acknowledge within ``op_timeout``. Nothing is buffered for later.
  ``publish_nowait()`` queues on the same FIFO (so order is kept) and returns at once; a later
  failure is counted, logged and followed by the ``on_reconnect`` callbacks (a resync).
* a **dispatcher** task calls handlers in arrival order from a bounded inbox. If handlers fall so
  far behind that the inbox overflows, messages are dropped and the ``on_reconnect`` callbacks run
  once the backlog is drained, because a gap needs the same repair as an outage.

Wire frame: ``0x01 | len(instance_id) | instance_id | payload``. Frames from this instance are
dropped (echoes); frames that do not parse are counted and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError

from rooms.bus import (
    BusMessage,
    BusUnavailable,
    Handler,
    ReconnectCallback,
    Subscription,
    check_channel,
    check_payload,
    new_instance_id,
)

log = logging.getLogger(__name__)

FRAME_VERSION = 1
_MAX_BATCH = 256  # PUBLISH commands per pipelined round trip
_SUBSCRIBE_CHUNK = 500  # channels per SUBSCRIBE command when resubscribing many rooms
_SECRET_QUERY_KEYS = frozenset({"password", "ssl_password", "username"})


def redact_url(url: str) -> str:
    """The URL with any user name, password (also ``?password=``) masked: safe for logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<unparseable redis url>"
    rest, qsep, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    if query:
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(
            f"{key}{eq}{'***' if key.lower() in _SECRET_QUERY_KEYS else value}"
            for key, eq, value in pairs
        )
    return f"{scheme}://{authority}{slash}{path}{qsep}{query}"


def encode_frame(header: bytes, payload: bytes) -> bytes:
    return header + payload


def frame_header(instance_id: str) -> bytes:
    raw = instance_id.encode("ascii")
    return bytes((FRAME_VERSION, len(raw))) + raw


def decode_frame(data: bytes) -> tuple[str, bytes] | None:
    """``(sender, payload)``, or ``None`` when ``data`` is not one of our frames."""
    if len(data) < 3 or data[0] != FRAME_VERSION:
        return None
    size = data[1]
    if size == 0 or len(data) < 2 + size:
        return None
    try:
        sender = data[2 : 2 + size].decode("ascii")
    except UnicodeDecodeError:
        return None
    return sender, data[2 + size :]


def _describe(exc: BaseException) -> str:
    # redis-py messages name host:port only; the URL (with its password) never reaches them.
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _DeadConnection(Exception):
    """The watchdog's PING went unanswered: the connection is silently gone."""


@dataclass
class BusStats:
    """Counters for metrics and tests."""

    published: int = 0
    publish_failures: int = 0
    delivered: int = 0
    echoes_dropped: int = 0
    malformed_dropped: int = 0
    overflow_dropped: int = 0
    handler_errors: int = 0
    sessions: int = 0
    pings: int = 0
    reconnects: int = 0
    resyncs: int = 0


@dataclass(eq=False)
class _Channel:
    name: str  # the logical channel rooms use
    handlers: list[Handler] = field(default_factory=list)
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class _Pending:
    args: tuple[Any, ...]
    future: asyncio.Future[Any] | None  # None: fire and forget (``publish_nowait``)


class _RedisSubscription:
    def __init__(self, bus: RedisBus, key: bytes, handler: Handler) -> None:
        self._bus = bus
        self._key = key
        self._handler = handler
        self._done = False

    async def unsubscribe(self) -> None:
        if self._done:
            return
        self._done = True
        await self._bus._remove_handler(self._key, self._handler)


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
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("op_timeout", op_timeout),
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("backoff_initial", backoff_initial),
            ("backoff_max", backoff_max),
        ):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if min(max_inbox, max_outbox, max_payload) < 1:
            raise ValueError("max_inbox, max_outbox and max_payload must be positive")
        self.url = redact_url(url)
        self._options = self._connection_options(url, connect_timeout)
        self._prefix = channel_prefix.encode()
        self._header = frame_header(self.instance_id)
        self._connect_timeout = connect_timeout
        self._op_timeout = op_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._max_inbox = max_inbox
        self._max_outbox = max_outbox
        self._max_payload = max_payload
        self.stats = BusStats()

        self._channels: dict[bytes, _Channel] = {}
        # SUBSCRIBE replies come back in command order: the FIFO says whose confirmation it is.
        self._awaiting: dict[bytes, deque[_Channel]] = {}
        self._reconnect_callbacks: list[ReconnectCallback] = []
        self._conn: AbstractConnection | None = None
        self._connected = asyncio.Event()
        self._refused = asyncio.Event()  # Redis answered but refused us (credentials, ACL)
        self._rx = asyncio.Event()
        self._generation = 0  # bumped per lost session: the publisher reopens its connection
        self._last_error = "not connected yet"
        self._overflowed = False
        self._repair_scheduled = False
        self._healthy = False
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._inbox: asyncio.Queue[tuple[bytes, str, bytes]] = asyncio.Queue(max_inbox)
        self._outbox: asyncio.Queue[_Pending] = asyncio.Queue(max_outbox)

    def __repr__(self) -> str:
        return f"RedisBus(url={self.url!r}, instance_id={self.instance_id!r})"

    # -- public API ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up and every channel is confirmed."""
        return self._connected.is_set()

    @property
    def last_error(self) -> str:
        """Why the last session ended or the last connection attempt failed (no secrets)."""
        return self._last_error

    async def start(self) -> None:
        """Connect, or raise :class:`BusUnavailable` after ``connect_timeout`` seconds.

        A failed start leaves nothing running; after a successful one the bus repairs itself."""
        if self._running:
            return
        self._running = True
        self._inbox = asyncio.Queue(self._max_inbox)
        self._outbox = asyncio.Queue(self._max_outbox)
        self._connected.clear()
        self._refused.clear()
        self._tasks = [
            asyncio.create_task(self._supervise(), name=f"bus-supervisor-{self.instance_id}"),
            asyncio.create_task(self._dispatch(), name=f"bus-dispatch-{self.instance_id}"),
            asyncio.create_task(self._publish_loop(), name=f"bus-publish-{self.instance_id}"),
        ]
        waiters = [
            asyncio.ensure_future(event.wait()) for event in (self._connected, self._refused)
        ]
        try:
            await asyncio.wait(
                waiters, timeout=self._connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        if not self._connected.is_set():
            # Unreachable: give up after connect_timeout. Refused: waiting would not help.
            error = self._last_error
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
        self._awaiting.clear()
        self._connected.clear()

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
            entry = self._channels[key] = _Channel(channel, [handler])
            # When disconnected the supervisor subscribes it with the next session.
            await self._send_subscribe([key])
        else:
            entry.handlers.append(handler)
        try:
            async with asyncio.timeout(self._op_timeout):
                await entry.confirmed.wait()
        except TimeoutError:
            await self._remove_handler(key, handler)
            raise BusUnavailable(
                f"redis did not confirm the subscription to {channel!r} within"
                f" {self._op_timeout} s ({self._last_error})"
            ) from None
        return _RedisSubscription(self, key, handler)

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        self._reconnect_callbacks.append(callback)

    async def ping(self) -> bool:
        """A PING round trip on the publisher connection, and the subscriber must be live."""
        try:
            reply = await self._execute(("PING",))
        except BusUnavailable:
            return False
        return reply in (b"PONG", "PONG", True)

    # -- connections -----------------------------------------------------------------------

    def _connection_options(self, url: str, connect_timeout: float) -> dict[str, Any]:
        options: dict[str, Any] = dict(parse_url(url))
        options.update(
            # We time every read and write ourselves; redis-py's own timeouts, retries and health
            # checks would fight the supervisor (a retry inside a read would reconnect a socket
            # the supervisor is about to replace).
            socket_timeout=None,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            retry_on_error=[],
            health_check_interval=0,
            decode_responses=False,  # payloads are bytes, never text
            protocol=2,  # pub/sub replies as plain arrays, identical for every server version
        )
        return options

    def _new_connection(self, role: str) -> AbstractConnection:
        options = dict(self._options)
        connection_class: type[AbstractConnection] = options.pop("connection_class", Connection)
        options["client_name"] = f"hub-bus-{role}-{self.instance_id}"
        return connection_class(**options)

    def _key(self, channel: str) -> bytes:
        return self._prefix + channel.encode()

    async def _write(self, conn: AbstractConnection, *args: Any) -> None:
        # redis-py reconnects a closed connection on write; a dead session must stay dead.
        if not conn.is_connected:
            raise ConnectionError("subscriber connection is closed")
        await conn.send_command(*args, check_health=False)

    async def _send_subscribe(self, keys: Sequence[bytes]) -> None:
        conn = self._conn
        for start in range(0, len(keys), _SUBSCRIBE_CHUNK):
            if conn is None or conn is not self._conn:
                return  # no session, or it ended meanwhile: the next session subscribes them all
            chunk = [key for key in keys[start : start + _SUBSCRIBE_CHUNK] if key in self._channels]
            if not chunk:
                continue
            for key in chunk:
                self._awaiting.setdefault(key, deque()).append(self._channels[key])
            try:
                await self._write(conn, "SUBSCRIBE", *chunk)
            except Exception as exc:
                # The reader sees the same failure and ends the session; the next one resubscribes.
                log.debug("bus subscribe write failed: %s", _describe(exc))
                return

    async def _remove_handler(self, key: bytes, handler: Handler) -> None:
        entry = self._channels.get(key)
        if entry is None or handler not in entry.handlers:
            return
        entry.handlers.remove(handler)
        if entry.handlers:
            return
        del self._channels[key]
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):  # a dead session forgets the channel anyway
                await self._write(conn, "UNSUBSCRIBE", key)

    # -- supervisor: one subscriber session after another ----------------------------------

    async def _supervise(self) -> None:
        failures = 0  # consecutive sessions that never became healthy
        while self._running:
            conn = self._new_connection("sub")
            self._healthy = False
            try:
                await _open(conn, self._connect_timeout)
                self._conn = conn
                self._rx = asyncio.Event()
                await self._run_session(conn)
            except Exception as exc:  # the session is over whatever happened; log and go again
                self._last_error = _describe(exc)
                refused = (AuthenticationError, AuthorizationError, ResponseError)
                if isinstance(exc, refused):
                    self._refused.set()
                if self._healthy:
                    log.warning(
                        "redis bus lost its connection to %s (%s); reconnecting",
                        self.url,
                        self._last_error,
                    )
                else:
                    # One line per ten failed attempts: a long outage must not flood the logs.
                    log.log(
                        logging.WARNING if failures % 10 == 0 else logging.DEBUG,
                        "redis bus cannot connect to %s (attempt %d: %s)",
                        self.url,
                        failures + 1,
                        self._last_error,
                    )
            finally:
                await self._end_session(conn)
            failures = 0 if self._healthy else failures + 1
            await asyncio.sleep(self._backoff(failures))

    async def _run_session(self, conn: AbstractConnection) -> None:
        """Reader and watchdog side by side until either fails.

        Not a TaskGroup: on Python 3.11 a TaskGroup whose child fails while the supervisor is
        being cancelled raises an ExceptionGroup instead of CancelledError, and ``stop()`` would
        then find the supervisor reconnecting instead of finished."""
        reader = asyncio.create_task(self._read_loop(conn), name=f"bus-read-{self.instance_id}")
        watcher = asyncio.create_task(
            self._establish_and_watch(conn), name=f"bus-watch-{self.instance_id}"
        )
        try:
            done, _ = await asyncio.wait((reader, watcher), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises why the session ended
        finally:
            reader.cancel()
            watcher.cancel()
            await asyncio.gather(reader, watcher, return_exceptions=True)

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._backoff_max, self._backoff_initial * 2.0 ** min(failures, 30))
        # Jitter spreads the reconnects of many processes after a Redis restart; not security.
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311

    async def _end_session(self, conn: AbstractConnection) -> None:
        self._conn = None
        self._connected.clear()
        self._generation += 1
        self._awaiting.clear()
        for entry in self._channels.values():
            entry.confirmed.clear()
        with contextlib.suppress(Exception):
            await conn.disconnect(nowait=True)

    async def _establish_and_watch(self, conn: AbstractConnection) -> None:
        keys = list(self._channels)
        await self._send_subscribe(keys)
        async with asyncio.timeout(self._connect_timeout):
            for key in keys:
                entry = self._channels.get(key)
                if entry is not None:  # unsubscribed meanwhile
                    await entry.confirmed.wait()
        self._connected.set()
        self._healthy = True
        self.stats.sessions += 1
        if self.stats.sessions > 1:
            self.stats.reconnects += 1
            log.info("redis bus reconnected to %s; resubscribed %d channels", self.url, len(keys))
            self._run_callbacks("reconnect")
        await self._watch(conn)

    async def _watch(self, conn: AbstractConnection) -> None:
        """A silent network cut leaves the socket open for minutes: PING and expect a reply."""
        while True:
            await asyncio.sleep(self._ping_interval)
            self._rx.clear()
            try:
                async with asyncio.timeout(self._ping_timeout):
                    await self._write(conn, "PING")
                    await self._rx.wait()  # any frame proves the connection, not only the pong
                self.stats.pings += 1
            except TimeoutError:
                raise _DeadConnection(f"no reply to PING within {self._ping_timeout} s") from None

    async def _read_loop(self, conn: AbstractConnection) -> None:
        while True:
            reply = await conn.read_response()
            self._rx.set()
            if not isinstance(reply, list) or not reply:
                continue  # b"PONG" outside subscribed mode
            kind = reply[0]
            if kind == b"message" and len(reply) == 3:
                self._receive(reply[1], reply[2])
            elif kind == b"subscribe":
                self._confirm(reply[1])

    def _confirm(self, key: bytes) -> None:
        waiting = self._awaiting.get(key)
        if waiting:
            entry = waiting.popleft()
            if not waiting:
                del self._awaiting[key]
            entry.confirmed.set()

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
            self._inbox.put_nowait((key, sender, payload))
        except asyncio.QueueFull:
            self.stats.overflow_dropped += 1
            if not self._overflowed:
                log.warning("bus inbox full; dropping messages until handlers catch up")
            self._overflowed = True

    # -- dispatcher ------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while self._running:
            key, sender, payload = await self._inbox.get()
            entry = self._channels.get(key)
            if entry is not None:
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
        if not self._connected.is_set():
            self.stats.publish_failures += 1
            raise BusUnavailable(f"redis bus is reconnecting ({self._last_error})")

    def _lost_nowait(self, count: int, error: BaseException) -> None:
        """Fire-and-forget publishes failed: nobody awaits them, so count, log and resync."""
        self.stats.publish_failures += count
        log.warning("redis bus lost %d queued publishes (%s)", count, _describe(error))
        # While disconnected the reconnect runs the callbacks anyway; one repair is enough.
        if self._running and self._connected.is_set() and not self._repair_scheduled:
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
                    if conn is None or generation != self._generation or not conn.is_connected:
                        if conn is not None:
                            await _close_quietly(conn)
                        conn, generation = self._new_connection("pub"), self._generation
                        await _open(conn, self._connect_timeout)
                    await self._send_batch(conn, batch)
                except Exception as exc:
                    error = BusUnavailable(f"redis publish failed ({_describe(exc)})")
                    for pending in batch:
                        _settle(pending, error=error)
                    lost = sum(1 for pending in batch if pending.future is None)
                    if lost:
                        self._lost_nowait(lost, error)
                    if conn is not None:
                        await _close_quietly(conn)
                    conn = None
        finally:
            for pending in batch:  # stopped mid-flight: tell the callers now, not at their timeout
                _settle(pending, error=BusUnavailable("redis bus stopped"))
            if conn is not None:
                await _close_quietly(conn)

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


async def _open(conn: AbstractConnection, limit: float) -> None:
    # The whole handshake is timed, not only the TCP connect: behind a dead link AUTH or
    # CLIENT SETINFO would otherwise wait forever for a reply.
    async with asyncio.timeout(limit):
        await conn.connect()  # type: ignore[no-untyped-call]


async def _close_quietly(conn: AbstractConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.disconnect(nowait=True)
