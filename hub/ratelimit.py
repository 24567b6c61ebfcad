"""Rate limiting with the ``limits`` library: memory storage in embedded mode, Redis when
``REDIS_URL`` is set (so that several web processes share one budget)."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from hub.errors import RateLimited


class RateLimiter:
    def __init__(self, redis_url: str = "", *, key_prefix: str = "hub:") -> None:
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            # redis-py (a dependency already) instead of limits' default async driver, coredis,
            # which is not installed: without this the app cannot start with REDIS_URL set.
            # The prefix keeps hubs (and test runs) that share one Redis out of each other's
            # budgets: limits' own keys are only the rule and our keys (user ids, IPs).
            storage = storage_from_string(
                uri, implementation="redispy", key_prefix=f"{key_prefix}ratelimit"
            )
            if not isinstance(storage, Storage):  # pragma: no cover - an async+ URI always is
                raise TypeError(f"{uri!r} did not give an async rate-limit storage")
            self.storage: Storage = storage
        else:
            self.storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, rule: str, *keys: str, message: str | None = None) -> None:
        """Count one hit for ``keys`` under ``rule`` (e.g. ``"10/minute"``); raise 429 past it."""
        item = parse(rule)
        if await self._limiter.hit(item, *keys):
            return
        stats = await self._limiter.get_window_stats(item, *keys)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            message or f"Too many attempts; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )

    async def test(self, rule: str, *keys: str) -> bool:
        return await self._limiter.test(parse(rule), *keys)

    async def clear(self, rule: str, *keys: str) -> None:
        await self._limiter.clear(parse(rule), *keys)

    async def reset(self) -> None:
        await self.storage.reset()
