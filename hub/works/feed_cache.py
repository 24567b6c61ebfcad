"""A short-lived, per-process cache of the public lists' pages (docs/community.md, "Caching").

Most feed reads are the same few pages (the first page of latest and hot, site-wide and per
category) read by visitors who are not signed in, and they are the same for all of them. A page
is computed once per key and reused for ``HUB_FEED_CACHE_SECONDS``; concurrent misses of one key
wait for the one computation (no stampede when a popular page expires under load).

Freshness: :func:`bump_feed_epoch` (run after the commit of every :func:`hub.works.hot.
refresh_hot`, that is after every publish, unpublish, like and favorite) makes this process's
entries stale at once, so a process shows its own writes on the next read; another process's
writes show within the TTL. Signed-in viewers get the cached cards with their own likes and
favorites applied (``hub.works.cards``), and the following feed is never cached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

# The generation of this process's feed data: entries made under an older one are stale.
_epoch = 0


async def bump_feed_epoch() -> None:
    """After-commit effect: something a list shows changed (``after_commit(session, ...)``)."""
    global _epoch
    _epoch += 1


def feed_epoch() -> int:
    return _epoch


@dataclass
class _Entry:
    epoch: int
    expires: float
    value: Any


class FeedCache:
    """``await cache.get(key, compute)``: ``compute()``'s value, made at most once per key per
    ``ttl`` seconds and epoch. ``ttl <= 0`` turns caching off (every call computes)."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}
        self._refreshing: set[asyncio.Task[Any]] = set()
        self.hits = 0
        self.misses = 0
        self.stale = 0

    def _entry(self, key: Hashable) -> _Entry | None:
        """The entry of ``key`` made in this epoch (fresh or expired); older ones are dropped."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.epoch != _epoch:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    async def get(
        self, key: Hashable, compute: Callable[[], Awaitable[T]], *, stale_ok: bool = False
    ) -> T:
        """``stale_ok``: past its TTL (but not past an epoch bump), answer the old value at once
        and refresh it in the background, so no request waits for a recomputation when a page
        expires. Only for a ``compute`` that needs nothing of the caller's (its own unit of
        work), since it may run after the caller has answered."""
        if self.ttl <= 0:
            return await compute()
        entry = self._entry(key)
        if entry is not None:
            value: T = entry.value
            if entry.expires > self._clock():
                self.hits += 1
                return value
            if stale_ok:
                self.stale += 1
                if key not in self._pending:
                    self._refresh_later(key, compute)
                return value
        pending = self._pending.get(key)
        if pending is not None:
            self.hits += 1
            try:
                shared: T = await asyncio.shield(pending)
                return shared
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request was cancelled, not the computation it waited for
        return await self._compute(key, compute)

    def _refresh_later(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> None:
        # Pending from now on, before the task first runs, so that one refresh runs per key.
        future = self._begin(key)
        task = asyncio.create_task(self._run(key, future, compute), name="feed-cache-refresh")
        self._refreshing.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task[Any]) -> None:
        self._refreshing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The stale value stays until the next request tries again.
            log.warning("refreshing a feed page failed", exc_info=task.exception())

    async def aclose(self) -> None:
        """Cancel the background refreshes (the process is stopping)."""
        tasks = list(self._refreshing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _begin(self, key: Hashable) -> asyncio.Future[Any]:
        self.misses += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        return future

    async def _compute(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        return await self._run(key, self._begin(key), compute)

    async def _run(
        self, key: Hashable, future: asyncio.Future[Any], compute: Callable[[], Awaitable[T]]
    ) -> T:
        epoch = _epoch  # a write committed while computing makes this value stale at once
        try:
            value = await compute()
        except asyncio.CancelledError:
            future.cancel()  # its waiters compute for themselves
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must log it
            raise
        else:
            future.set_result(value)
            self._entries[key] = _Entry(epoch, self._clock() + self.ttl, value)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return value
        finally:
            del self._pending[key]
