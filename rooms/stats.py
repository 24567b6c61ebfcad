"""Plain counters of the realtime core, for whoever exports metrics (``hub.metrics`` reads them
at scrape time). ``rooms`` stays free of any metrics library: incrementing an int is all the hot
paths pay, and a process without an exporter pays nothing else.

Per bus (:attr:`rooms.bus.MemoryBus.stats`, :attr:`rooms.bus_redis.RedisBus.stats`): a
:class:`BusStats`. Per process: :data:`ROOM_STATS` (rooms are created by many servers in tests;
one process-wide set of counters is what a scrape wants).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BusStats:
    """Counters of one bus, for metrics and tests."""

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
    # Time messages waited between arriving at this process and their handlers running: the
    # bus's own backlog (a sum and a count, exported as a summary).
    lag_seconds_sum: float = 0.0
    lag_count: int = 0
    lag_seconds_max: float = 0.0

    def observe_lag(self, seconds: float) -> None:
        self.lag_seconds_sum += seconds
        self.lag_count += 1
        self.lag_seconds_max = max(self.lag_seconds_max, seconds)


@dataclass
class RoomStats:
    """Process-wide counters of room sockets."""

    # Sockets accepted and served, by kind ("yjs", "events").
    sockets_opened: int = 0
    # Event-stream clients told to ``resync`` (the store no longer held what they missed).
    client_resyncs: int = 0
    # Room reconciliations with the store after a bus reconnect or gap.
    room_resyncs: int = 0


ROOM_STATS = RoomStats()
