"""The application's own Prometheus metrics (docs/operations.md lists every family).

Two kinds, two registries:

* **Process-wide** metrics that code deep in the domains updates (HTTP latency, job durations,
  credit movements) live in prometheus-client's default registry, next to its process and
  platform collectors. They are module-level objects, so updating one is an attribute lookup.
* **Per-app** gauges read at scrape time from the objects of one running app (its room server,
  its bus, the job queue in its database) live in the :class:`AppMetrics` registry of that app:
  a test process that creates many apps never registers a collector twice.

Label values are bounded: routes are Starlette route *templates* (``/api/v1/works/{work_id}``),
never raw paths; methods outside the standard set are ``OTHER``; providers are registry names.
``rooms/`` knows nothing of Prometheus: it keeps plain counters (:mod:`rooms.stats`) that
:class:`RoomsCollector` turns into metric families here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rooms.stats import ROOM_STATS, BusStats

__all__ = [
    "CONTENT_TYPE_LATEST",
    "CREDITS",
    "HTTP_SECONDS",
    "JOB_SECONDS",
    "AppMetrics",
    "MetricsMiddleware",
    "RoomsCollector",
    "count_credits",
    "observe_job",
]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_SECONDS = Histogram(
    "hub_http_request_duration_seconds",
    "HTTP request latency by method, route template and status code.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOB_SECONDS = Histogram(
    "hub_job_duration_seconds",
    "Generation job run time (claim to settle) by provider and outcome.",
    ["provider", "outcome"],
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
CREDITS = Counter(
    "hub_credits",
    "Credits moved by ledger operation (reserve, charge, refund, grant, adjust).",
    ["operation"],
)


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope`` (Starlette sets ``scope["route"]``), or
    ``unmatched`` for a 404 outside every route: one label value per route, not per path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        root = scope.get("root_path", "") or ""
        # A mount's route sets root_path; its inner route's template is relative to it.
        return f"{root}{path}" if root and not path.startswith(root) else path
    return "unmatched"


class MetricsMiddleware:
    """Times every HTTP request into :data:`HTTP_SECONDS` (WebSockets are counted by the rooms
    collector instead: their lifetime is not a latency)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            method = scope.get("method", "GET")
            HTTP_SECONDS.labels(
                method if method in _METHODS else "OTHER", route_template(scope), str(status)
            ).observe(time.perf_counter() - started)


def observe_job(provider: str, outcome: str, seconds: float) -> None:
    JOB_SECONDS.labels(provider or "unknown", outcome).observe(max(0.0, seconds))


def count_credits(operation: str, amount: int) -> None:
    if amount > 0:
        CREDITS.labels(operation).inc(amount)


# --- per-app gauges --------------------------------------------------------------------------


class RoomsLike(Protocol):
    def loaded_rooms(self) -> list[str]: ...
    def socket_counts(self) -> dict[str, int]: ...


class RoomsCollector(Collector):
    """Rooms, room sockets and the bus of one app, read when scraped."""

    def __init__(
        self,
        rooms: Callable[[], RoomsLike | None],
        bus_stats: Callable[[], BusStats | None],
    ) -> None:
        self._rooms = rooms
        self._bus_stats = bus_stats

    def describe(self) -> Iterable[Metric]:
        return []  # collected lazily: nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        rooms = self._rooms()
        live = GaugeMetricFamily("hub_rooms_live", "Rooms loaded in this process.")
        live.add_metric([], len(rooms.loaded_rooms()) if rooms is not None else 0)
        yield live
        sockets = GaugeMetricFamily(
            "hub_ws_connections", "Open room WebSockets in this process by kind.", labels=["kind"]
        )
        counts = rooms.socket_counts() if rooms is not None else {"yjs": 0, "events": 0}
        for kind, count in sorted(counts.items()):
            sockets.add_metric([kind], count)
        yield sockets
        yield _counter(
            "hub_ws_connections_opened", "Room WebSockets served.", ROOM_STATS.sockets_opened
        )
        yield _counter(
            "hub_room_client_resyncs",
            "Event-stream clients told to resync (what they missed was no longer stored).",
            ROOM_STATS.client_resyncs,
        )
        yield _counter(
            "hub_room_resyncs",
            "Room reconciliations with the store after a bus reconnect or gap.",
            ROOM_STATS.room_resyncs,
        )
        stats = self._bus_stats()
        if stats is None:
            return
        yield _counter("hub_bus_published", "Messages published on the bus.", stats.published)
        yield _counter(
            "hub_bus_publish_failures", "Bus publishes that failed.", stats.publish_failures
        )
        yield _counter("hub_bus_received", "Bus messages delivered to handlers.", stats.delivered)
        yield _counter(
            "hub_bus_dropped",
            "Bus messages dropped (inbox overflow, malformed frames).",
            stats.overflow_dropped + stats.malformed_dropped,
        )
        yield _counter("hub_bus_reconnects", "Bus reconnections.", stats.reconnects)
        yield _counter(
            "hub_bus_resyncs", "Resyncs the bus asked for (reconnect, gap).", stats.resyncs
        )
        lag = SummaryMetricFamily(
            "hub_bus_receive_lag_seconds",
            "Time bus messages waited in this process before their handlers ran.",
            count_value=stats.lag_count,
            sum_value=stats.lag_seconds_sum,
        )
        yield lag
        worst = GaugeMetricFamily(
            "hub_bus_receive_lag_max_seconds", "Longest wait of a bus message since start."
        )
        worst.add_metric([], stats.lag_seconds_max)
        yield worst


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


class _QueueCollector(Collector):
    def __init__(self, owner: AppMetrics) -> None:
        self._owner = owner

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "hub_jobs_queue_depth",
            "Jobs by state, read from the database at scrape time (cached a few seconds).",
            labels=["state"],
        )
        for state, count in sorted(self._owner.queue_depth.items()):
            depth.add_metric([state], count)
        yield depth


QueueReader = Callable[[], Awaitable[Mapping[str, int]]]


class AppMetrics:
    """The per-app registry and the queue-depth cache of one running app."""

    QUEUE_TTL = 5.0  # seconds: scrapes every few seconds cost one GROUP BY at most per TTL

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.queue_depth: dict[str, int] = {}
        self._read_at: float | None = None
        self.clock = clock
        self.registry.register(_QueueCollector(self))

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)

    async def refresh_queue(self, read: QueueReader) -> None:
        now = self.clock()
        if self._read_at is not None and now - self._read_at < self.QUEUE_TTL:
            return
        self.queue_depth = dict(await read())
        self._read_at = now

    def render(self) -> bytes:
        """Process-wide metrics, then this app's: one text exposition."""
        return generate_latest(REGISTRY) + generate_latest(self.registry)


def bus_stats_of(bus: Any) -> BusStats | None:
    stats = getattr(bus, "stats", None)
    return stats if isinstance(stats, BusStats) else None
