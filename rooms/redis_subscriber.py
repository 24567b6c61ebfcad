"""The subscriber connection of :class:`rooms.bus_redis.RedisBus`, under supervision.

One connection (RESP2) carries every channel. Each session: connect, ``SUBSCRIBE`` all channels
(500 per command), wait for every confirmation, then run a reader and a ping watchdog side by
side until either fails. Then back off (capped exponential, jitter), reconnect, resubscribe, and
report the reconnect (the bus then runs its ``on_reconnect`` callbacks: rooms resync).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError

from rooms.bus import Handler
from rooms.redis_link import BusStats, close_quietly, describe, open_connection, write

log = logging.getLogger(__name__)

_SUBSCRIBE_CHUNK = 500  # channels per SUBSCRIBE command when resubscribing many rooms


@dataclass(eq=False)
class Channel:
    name: str  # the logical channel rooms use
    handlers: list[Handler] = field(default_factory=list)
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Timing:
    connect_timeout: float
    ping_interval: float
    ping_timeout: float
    backoff_initial: float
    backoff_max: float


class DeadConnection(Exception):
    """The watchdog's PING went unanswered: the connection is silently gone."""


class Subscriber:
    """Keeps one subscriber session alive for the bus' ``channels`` (the bus adds and removes
    them). ``on_message(key, data)`` gets every published frame, ``on_reconnect()`` runs after
    every session but the first became healthy."""

    def __init__(
        self,
        *,
        url: str,
        instance_id: str,
        connect: Callable[[], AbstractConnection],
        channels: dict[bytes, Channel],
        timing: Timing,
        stats: BusStats,
        on_message: Callable[[bytes, bytes], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        self._url = url  # redacted
        self._instance_id = instance_id
        self._connect = connect
        self._channels = channels
        self._timing = timing
        self._stats = stats
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        # SUBSCRIBE replies come back in command order: the FIFO says whose confirmation it is.
        self._awaiting: dict[bytes, deque[Channel]] = {}
        self._conn: AbstractConnection | None = None
        self.connected = asyncio.Event()  # up, and every channel confirmed
        self.refused = asyncio.Event()  # Redis answered but refused us (credentials, ACL)
        self._rx = asyncio.Event()
        self.generation = 0  # bumped per lost session: the publisher reopens its connection
        self.last_error = "not connected yet"
        self._healthy = False

    def reset(self) -> None:
        """Forget the state of a previous run (``RedisBus.start`` and ``stop``)."""
        self._awaiting.clear()
        self.connected.clear()
        self.refused.clear()

    async def subscribe(self, keys: Sequence[bytes]) -> None:
        """Send ``SUBSCRIBE`` for ``keys`` on the live session; without one, the next session
        subscribes every channel anyway."""
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
                await write(conn, "SUBSCRIBE", *chunk)
            except Exception as exc:
                # The reader sees the same failure and ends the session; the next one resubscribes.
                log.debug("bus subscribe write failed: %s", describe(exc))
                return

    async def unsubscribe(self, key: bytes) -> None:
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):  # a dead session forgets the channel anyway
                await write(conn, "UNSUBSCRIBE", key)

    # -- supervisor: one session after another ---------------------------------------------

    async def supervise(self) -> None:
        """Forever; ``RedisBus.stop`` cancels it."""
        failures = 0  # consecutive sessions that never became healthy
        while True:
            conn = self._connect()
            self._healthy = False
            try:
                await open_connection(conn, self._timing.connect_timeout)
                self._conn = conn
                self._rx = asyncio.Event()
                await self._run_session(conn)
            except Exception as exc:  # the session is over whatever happened; log and go again
                self._session_failed(exc, failures)
            finally:
                await self._end_session(conn)
            failures = 0 if self._healthy else failures + 1
            await asyncio.sleep(self._backoff(failures))

    def _session_failed(self, exc: Exception, failures: int) -> None:
        self.last_error = describe(exc)
        if isinstance(exc, AuthenticationError | AuthorizationError | ResponseError):
            self.refused.set()
        if self._healthy:
            log.warning(
                "redis bus lost its connection to %s (%s); reconnecting",
                self._url,
                self.last_error,
            )
        else:
            # One line per ten failed attempts: a long outage must not flood the logs.
            log.log(
                logging.WARNING if failures % 10 == 0 else logging.DEBUG,
                "redis bus cannot connect to %s (attempt %d: %s)",
                self._url,
                failures + 1,
                self.last_error,
            )

    async def _run_session(self, conn: AbstractConnection) -> None:
        """Reader and watchdog side by side until either fails.

        Not a TaskGroup: on Python 3.11 a TaskGroup whose child fails while the supervisor is
        being cancelled raises an ExceptionGroup instead of CancelledError, and ``stop()`` would
        then find the supervisor reconnecting instead of finished."""
        reader = asyncio.create_task(self._read_loop(conn), name=f"bus-read-{self._instance_id}")
        watcher = asyncio.create_task(
            self._establish_and_watch(conn), name=f"bus-watch-{self._instance_id}"
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
        timing = self._timing
        ceiling = min(timing.backoff_max, timing.backoff_initial * 2.0 ** min(failures, 30))
        # Jitter spreads the reconnects of many processes after a Redis restart; not security.
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311

    async def _end_session(self, conn: AbstractConnection) -> None:
        self._conn = None
        self.connected.clear()
        self.generation += 1
        self._awaiting.clear()
        for entry in self._channels.values():
            entry.confirmed.clear()
        await close_quietly(conn)

    async def _establish_and_watch(self, conn: AbstractConnection) -> None:
        keys = list(self._channels)
        await self.subscribe(keys)
        async with asyncio.timeout(self._timing.connect_timeout):
            for key in keys:
                entry = self._channels.get(key)
                if entry is not None:  # unsubscribed meanwhile
                    await entry.confirmed.wait()
        self.connected.set()
        self._healthy = True
        self._stats.sessions += 1
        if self._stats.sessions > 1:
            self._stats.reconnects += 1
            log.info("redis bus reconnected to %s; resubscribed %d channels", self._url, len(keys))
            self._on_reconnect()
        await self._watch(conn)

    async def _watch(self, conn: AbstractConnection) -> None:
        """A silent network cut leaves the socket open for minutes: PING and expect a reply."""
        timeout = self._timing.ping_timeout
        while True:
            await asyncio.sleep(self._timing.ping_interval)
            self._rx.clear()
            try:
                async with asyncio.timeout(timeout):
                    await write(conn, "PING")
                    await self._rx.wait()  # any frame proves the connection, not only the pong
                self._stats.pings += 1
            except TimeoutError:
                raise DeadConnection(f"no reply to PING within {timeout} s") from None

    async def _read_loop(self, conn: AbstractConnection) -> None:
        while True:
            reply = await conn.read_response()
            self._rx.set()
            if not isinstance(reply, list) or not reply:
                continue  # b"PONG" outside subscribed mode
            kind = reply[0]
            if kind == b"message" and len(reply) == 3:
                self._on_message(reply[1], reply[2])
            elif kind == b"subscribe":
                self._confirm(reply[1])

    def _confirm(self, key: bytes) -> None:
        waiting = self._awaiting.get(key)
        if waiting:
            entry = waiting.popleft()
            if not waiting:
                del self._awaiting[key]
            entry.confirmed.set()
