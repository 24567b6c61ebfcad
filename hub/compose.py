"""The composition root: what each process is made of, built from the domains' parts in one place.

* The web process (``hub serve``, :func:`hub.app.create_app`) runs inside :func:`web_context`:
  database, bus, rate limiter, storage and OIDC client, then the rooms and generation components,
  all kept as typed fields of one :class:`~hub.context.HubContext`.
* ``hub worker`` runs :func:`run_worker`: database, bus, storage, the provider registry and a
  publish-only room server, handed to the generation worker.

Components start after what they use and stop before it, in reverse order. Domains expose
components and factories and never import this module or :mod:`hub.app` (an import-linter
contract in pyproject.toml enforces it; README.md, "Architecture in one page").
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.accounts.actorcache import ActorCache
from hub.accounts.credentials import SocketCloser
from hub.accounts.oidc import OIDCClient
from hub.broadcast import Broadcast
from hub.collab.component import start_room_publisher, start_rooms
from hub.context import HubContext
from hub.db import Database
from hub.generation.component import run_separate_worker, start_generation
from hub.generation.providers.registry import ProviderRegistry
from hub.notifications.component import start_notifications
from hub.prompts.index import start_prompt_index
from hub.ratelimit import RateLimiter
from hub.settings import Settings
from hub.storage.component import open_storage
from hub.works.component import start_feeds
from rooms.bus import Bus, MemoryBus

log = logging.getLogger(__name__)


def make_bus(settings: Settings) -> Bus:
    if settings.redis_url:
        from rooms.bus_redis import RedisBus

        return RedisBus(settings.redis_url)
    return MemoryBus()


# --- the web process -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def web_context(settings: Settings) -> AsyncIterator[HubContext]:
    """Every process-wide service of a web process, open for the ``async with`` block."""
    async with contextlib.AsyncExitStack() as stack:
        db = Database(settings)
        stack.push_async_callback(db.dispose)
        bus = make_bus(settings)
        await bus.start()
        stack.push_async_callback(bus.stop)
        # Services reach the bus from their session, for per-user streams (notifications).
        db.broadcast = Broadcast(bus)
        storage = await open_storage(settings)
        stack.push_async_callback(storage.aclose)
        ctx = HubContext(
            settings=settings,
            db=db,
            bus=bus,
            limiter=RateLimiter(settings.redis_url, key_prefix=settings.redis_key_prefix),
            storage=storage,
            oidc=OIDCClient(),
        )
        ctx.rooms = await start_rooms(ctx)
        ctx.sockets = ctx.rooms
        # Last out but storage, bus and database: closing the sockets flushes every room.
        stack.push_async_callback(_stop_rooms, ctx)
        ctx.notifications = await start_notifications(ctx)
        # Ending a credential closes its notification sockets here, then its room sockets
        # everywhere (the rooms' close message also reaches the other processes' notifications).
        ctx.sockets = AllSockets((ctx.notifications, ctx.rooms))
        if settings.auth_cache_seconds > 0:
            # Forgets ended credentials first: their next request is already refused here.
            ctx.actors = ActorCache(settings.auth_cache_seconds, settings.auth_cache_entries)
            await ctx.actors.start(bus, settings.room_channel_prefix)
            stack.push_async_callback(_stop_actors, ctx)
            ctx.sockets = AllSockets((ctx.actors, ctx.notifications, ctx.rooms))
        stack.push_async_callback(_stop_notifications, ctx)
        # After rooms: job events go to room streams; the embedded worker needs storage.
        ctx.generation = await start_generation(ctx)
        # First out: the worker's last events (jobs handed back) still reach open rooms.
        stack.push_async_callback(_stop_generation, ctx)
        # The feed cache and the hot-score repair task; stops before the database closes.
        ctx.feeds = await start_feeds(settings, db)
        stack.push_async_callback(_stop_feeds, ctx)
        ctx.prompts = await start_prompt_index(db, settings)
        stack.push_async_callback(_stop_prompts, ctx)
        yield ctx


@dataclass(frozen=True)
class AllSockets:
    """The :class:`~hub.accounts.credentials.SocketCloser` of a process with several kinds of
    sockets: each closes its own, in order."""

    closers: tuple[SocketCloser, ...]

    async def close_credentials(self, keys: Sequence[str], reason: str) -> None:
        for closer in self.closers:
            await closer.close_credentials(keys, reason)


async def _stop_actors(ctx: HubContext) -> None:
    actors, ctx.actors = ctx.actors, None
    if actors is not None:
        await actors.stop()


async def _stop_notifications(ctx: HubContext) -> None:
    notifications, ctx.notifications = ctx.notifications, None
    ctx.sockets = ctx.rooms
    if notifications is not None:
        await notifications.stop()


async def _stop_rooms(ctx: HubContext) -> None:
    rooms, ctx.rooms, ctx.sockets = ctx.rooms, None, None
    if rooms is not None:
        await rooms.stop()


async def _stop_feeds(ctx: HubContext) -> None:
    feeds, ctx.feeds = ctx.feeds, None
    if feeds is not None:
        await feeds.stop()


async def _stop_generation(ctx: HubContext) -> None:
    generation, ctx.generation = ctx.generation, None
    if generation is not None:
        await generation.stop()


async def _stop_prompts(ctx: HubContext) -> None:
    prompts, ctx.prompts = ctx.prompts, None
    if prompts is not None:
        await prompts.stop()


# --- hub worker ----------------------------------------------------------------------------------


async def run_worker(settings: Settings) -> int:
    """``hub worker``: one job worker with the web process's runner and event sink, until
    SIGTERM. A part that fails to close is logged and the others still close."""
    stack = contextlib.AsyncExitStack()
    try:
        db = Database(settings)
        _close_quietly(stack, db.dispose)
        bus = make_bus(settings)
        await bus.start()
        _close_quietly(stack, bus.stop)
        # "Your job finished" reaches the owner's pages on the web processes.
        db.broadcast = Broadcast(bus)
        if not settings.redis_url:
            log.warning(
                "REDIS_URL is not set: this worker's job events reach no web process "
                "(rooms see results only after a reload); set it when running hub worker"
            )
        storage = await open_storage(settings)
        _close_quietly(stack, storage.aclose)
        registry = ProviderRegistry.from_settings(settings)
        _close_quietly(stack, registry.aclose)
        if settings.worker_metrics_port:
            _serve_worker_metrics(stack, settings)
        rooms = await start_room_publisher(db, bus, settings)
        _close_quietly(stack, rooms.stop)
        return await run_separate_worker(
            settings, db=db, bus=bus, storage=storage, registry=registry, rooms=rooms
        )
    finally:
        await stack.aclose()


def _serve_worker_metrics(stack: contextlib.AsyncExitStack, settings: Settings) -> None:
    """The worker's job durations and credit counts on their own port (a thread of
    prometheus-client's): a worker has no web server of its own."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(settings.worker_metrics_port, addr=settings.host)

    async def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)

    _close_quietly(stack, stop)


def _close_quietly(stack: contextlib.AsyncExitStack, close: Callable[[], Awaitable[Any]]) -> None:
    async def closing() -> None:
        try:
            await close()
        except Exception:
            log.exception("closing a worker component failed")

    stack.push_async_callback(closing)
