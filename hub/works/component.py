"""The feeds component of the web process: the cache of public feed pages, and the periodic
task that keeps hot scores right (``hub.works.hot.recompute_hot`` over the recent works).

The composition root (:mod:`hub.compose`) starts it with :func:`start_feeds` and keeps it in
``ctx.feeds``. Every web process runs the task; it is idempotent and writes only the scores
that changed, so several processes running it cost a few reads each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from hub.db import Database, utcnow
from hub.settings import Settings
from hub.works.feed_cache import FeedCache
from hub.works.hot import recompute_hot

log = logging.getLogger(__name__)


@dataclass
class FeedsComponent:
    settings: Settings
    db: Database
    cache: FeedCache
    _refresh: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        if self.settings.hot_refresh_interval > 0:
            self._refresh = asyncio.create_task(self._refresh_loop(), name="feeds-hot-refresh")

    async def stop(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh
            self._refresh = None
        await self.cache.aclose()

    async def refresh_recent(self) -> int:
        """One run of the periodic task: the works published in the last
        ``HUB_HOT_REFRESH_DAYS``; returns how many scores changed."""
        since = utcnow() - timedelta(days=self.settings.hot_refresh_days)
        return await recompute_hot(self.db, published_since=since)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.hot_refresh_interval)
            try:
                changed = await self.refresh_recent()
            except Exception:
                log.exception("hot score refresh failed")
            else:
                if changed:
                    log.info("hot scores refreshed", extra={"changed": changed})


async def start_feeds(settings: Settings, db: Database) -> FeedsComponent:
    feeds = FeedsComponent(settings, db, FeedCache(settings.feed_cache_seconds))
    await feeds.start()
    return feeds
