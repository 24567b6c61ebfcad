"""Cross-process fan-out for rooms.

The bus carries **one message per room event** (never one per recipient); every process fans
the message out to its own local sockets. Payloads are opaque bytes (binary-safe). Each message
is tagged with the sending process' ``instance_id`` and a process receives none of its own
messages back (echoes are dropped by the bus, so rooms never see them).

Correctness never rests on the bus alone: after a reconnect the bus calls every
``on_reconnect`` callback, and rooms re-run a state-vector sync with the store and replay
events by sequence number. See docs/decisions/0003-bus-reconnect-and-resync.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rooms.stats import BusStats

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BusMessage:
    channel: str
    sender: str  # instance id of the publishing process
    payload: bytes


Handler = Callable[[BusMessage], Awaitable[None]]
ReconnectCallback = Callable[[], Awaitable[None]]

MAX_CHANNEL_LENGTH = 512


class BusUnavailable(ConnectionError):
    """The transport cannot carry this call now (stopped, reconnecting, or no acknowledgement in
    time). Raised quickly instead of hanging; nothing is buffered. Rooms may drop the message:
    the resync after the reconnect restores what other processes missed."""


def check_channel(channel: str) -> str:
    """Both backends reject the same bad channel names, so embedded mode catches the bug too."""
    if not isinstance(channel, str) or not channel:
        raise ValueError("bus channel must be a non-empty str")
    if len(channel) > MAX_CHANNEL_LENGTH:
        raise ValueError(f"bus channel is longer than {MAX_CHANNEL_LENGTH} characters")
    return channel


def check_payload(payload: bytes | bytearray | memoryview) -> bytes:
    # bytes(5) would silently become five zero bytes, and str needs an encoding: refuse both.
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise TypeError(f"bus payload must be bytes, not {type(payload).__name__}")
    return bytes(payload)


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


@runtime_checkable
class Bus(Protocol):
    """What rooms need from a pub/sub transport."""

    instance_id: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, channel: str, payload: bytes) -> None:
        """Send ``payload`` to every *other* process subscribed to ``channel``.

        Raises :class:`BusUnavailable` quickly when the transport is down (never hangs)."""

    def publish_nowait(self, channel: str, payload: bytes) -> None:
        """Queue ``payload`` for ``channel`` and return at once (fire and forget).

        Messages of one bus, ``publish`` and ``publish_nowait`` alike, leave in the order they
        were queued. Raises :class:`BusUnavailable` only for what is known at once (stopped,
        reconnecting, queue full); a later failure is counted and logged, and the bus runs its
        ``on_reconnect`` callbacks so rooms resync what the message would have carried."""

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        """Register ``handler``; returns only once the subscription is confirmed live."""

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        """Call ``callback`` after the transport came back (all subscriptions restored)."""

    async def ping(self) -> bool:
        """True when the transport is reachable (used by ``/readyz``)."""


def new_instance_id() -> str:
    return uuid.uuid4().hex[:12]


class OnceSubscription:
    """A :class:`Subscription` whose ``unsubscribe`` runs ``remove`` once (both buses use it).

    Idempotent: a second call must not remove another registration of the same handler.
    """

    def __init__(self, remove: Callable[[], Awaitable[None]]) -> None:
        self._remove: Callable[[], Awaitable[None]] | None = remove

    async def unsubscribe(self) -> None:
        remove, self._remove = self._remove, None
        if remove is not None:
            await remove()


class MemoryHub:
    """Connects several :class:`MemoryBus` instances in one process (tests of multi-instance
    behaviour without Redis). A lone ``MemoryBus`` gets a private hub."""

    def __init__(self) -> None:
        self.buses: list[MemoryBus] = []


class MemoryBus:
    """In-process bus: the embedded default. With a single process nothing needs to cross, but
    several ``MemoryBus`` objects sharing a :class:`MemoryHub` behave like processes on Redis."""

    def __init__(self, hub: MemoryHub | None = None, instance_id: str | None = None) -> None:
        self.instance_id = instance_id or new_instance_id()
        self._hub = hub or MemoryHub()
        self._subscribers: dict[str, list[Handler]] = {}
        self._reconnect_callbacks: list[ReconnectCallback] = []
        self._started = False
        # One FIFO drained by one task: ``publish`` and ``publish_nowait`` keep their order.
        self._outbox: deque[tuple[BusMessage, asyncio.Future[None] | None, float]] = deque()
        self._wake = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self.stats = BusStats()
        self._queued_at = time.monotonic()

    async def start(self) -> None:
        if not self._started:
            self._hub.buses.append(self)
            self._started = True

    async def stop(self) -> None:
        if self._started:
            self._hub.buses.remove(self)
            self._started = False
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
            self._drainer = None
        while self._outbox:
            _, future, _queued = self._outbox.popleft()
            if future is not None and not future.done():
                future.set_exception(BusUnavailable("memory bus stopped"))
        self._subscribers.clear()

    async def publish(self, channel: str, payload: bytes) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._enqueue(channel, payload, future)
        await future

    def publish_nowait(self, channel: str, payload: bytes) -> None:
        self._enqueue(channel, payload, None)

    def _enqueue(self, channel: str, payload: bytes, future: asyncio.Future[None] | None) -> None:
        data = check_payload(payload)
        message = BusMessage(channel=check_channel(channel), sender=self.instance_id, payload=data)
        self._outbox.append((message, future, time.monotonic()))
        self.stats.published += 1
        self._wake.set()
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(
                self._drain(), name=f"memory-bus-{self.instance_id}"
            )

    async def _drain(self) -> None:
        while True:
            while self._outbox:
                message, future, queued = self._outbox.popleft()
                self._queued_at = queued  # for the receivers' lag (``_deliver``)
                try:
                    await self._deliver(message)
                finally:
                    if future is not None and not future.done():
                        future.set_result(None)
            self._wake.clear()
            await self._wake.wait()

    async def _deliver(self, message: BusMessage) -> None:
        channel = message.channel
        for bus in list(self._hub.buses):
            if bus is self:
                continue  # echo suppression, as on Redis
            handlers = list(bus._subscribers.get(channel, ()))
            if handlers:
                bus.stats.delivered += 1
                bus.stats.observe_lag(time.monotonic() - self._queued_at)
            for handler in handlers:
                try:
                    await handler(message)
                except Exception:  # one bad subscriber must not break delivery to others
                    log.exception("bus handler failed", extra={"channel": channel})

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        self._subscribers.setdefault(check_channel(channel), []).append(handler)
        return OnceSubscription(functools.partial(self._remove_handler, channel, handler))

    async def _remove_handler(self, channel: str, handler: Handler) -> None:
        handlers = self._subscribers.get(channel)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._subscribers[channel]

    def on_reconnect(self, callback: ReconnectCallback) -> None:
        self._reconnect_callbacks.append(callback)

    async def simulate_reconnect(self) -> None:
        """Test hook: behave as if the transport dropped and came back."""
        self.stats.reconnects += 1
        self.stats.resyncs += 1
        for callback in list(self._reconnect_callbacks):
            with contextlib.suppress(Exception):
                await callback()

    async def ping(self) -> bool:
        await asyncio.sleep(0)
        return self._started
