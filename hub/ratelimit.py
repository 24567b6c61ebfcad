"""Rate limiting with the ``limits`` library: memory storage in embedded mode, Redis when
``REDIS_URL`` is set (so that several web processes share one budget).

When Redis cannot be reached, every rule falls back to this process's memory until Redis answers
again (docs/decisions/0010-rate-limits-during-a-redis-outage.md): no rate-limited route turns
into a 500 or a 503, and limits stay enforced, per process. The outage is logged once when it
starts and once when it ends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hub.errors import RateLimited

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# A Redis that does not answer within this is treated as down for this request.
REDIS_TIMEOUT_SECONDS = 1.0
# During an outage, how long requests use memory before one of them tries Redis again.
REDIS_RETRY_SECONDS = 2.0


class RateLimiter:
    def __init__(
        self,
        redis_url: str = "",
        *,
        key_prefix: str = "hub:",
        retry_seconds: float = REDIS_RETRY_SECONDS,
    ) -> None:
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._retry_seconds = retry_seconds
        self._retry_at = 0.0  # monotonic time before which Redis is not tried again
        self._down_since: float | None = None
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            # redis-py (a dependency already) instead of limits' default async driver, coredis,
            # which is not installed: without this the app cannot start with REDIS_URL set.
            # The prefix keeps hubs (and test runs) that share one Redis out of each other's
            # budgets: limits' own keys are only the rule and our keys (user ids, IPs).
            # Errors come wrapped as StorageError; no retries and short timeouts, because a
            # request waiting on a dead Redis is worse than a per-process budget.
            client_options: dict[str, Any] = {  # passed on to redis.asyncio.Redis
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                "retry": Retry(NoBackoff(), 0),
            }
            storage = storage_from_string(
                uri,
                implementation="redispy",
                key_prefix=f"{key_prefix}ratelimit",
                wrap_exceptions=True,
                **client_options,
            )
            if not isinstance(storage, Storage):  # pragma: no cover - an async+ URI always is
                raise TypeError(f"{uri!r} did not give an async rate-limit storage")
            self._shared = MovingWindowRateLimiter(storage)

    @property
    def degraded(self) -> bool:
        """True while Redis is configured but unreachable (budgets are per process)."""
        return self._down_since is not None

    async def _call(self, operation: Callable[[MovingWindowRateLimiter], Awaitable[_T]]) -> _T:
        shared = self._shared
        if shared is not None and time.monotonic() >= self._retry_at:
            if self._down_since is not None:
                # One request probes a Redis that was down; the others go on counting in memory
                # rather than each waiting for its timeout when Redis hangs.
                self._retry_at = time.monotonic() + self._retry_seconds
            try:
                result = await operation(shared)
            except StorageError as exc:
                self._outage(exc.storage_error)
            else:
                self._recovered()
                return result
        return await operation(self._memory)

    def _outage(self, error: Exception) -> None:
        now = time.monotonic()
        self._retry_at = now + self._retry_seconds
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "rate limiter cannot reach Redis; limits are counted per process until it is back",
                extra={"error": f"{type(error).__name__}: {error}"},
            )

    def _recovered(self) -> None:
        if self._down_since is not None:
            seconds = round(time.monotonic() - self._down_since, 1)
            self._down_since = None
            log.info("rate limiter reaches Redis again", extra={"outage_seconds": seconds})

    async def hit(self, rule: str, *keys: str, message: str | None = None) -> None:
        """Count one hit for ``keys`` under ``rule`` (e.g. ``"10/minute"``); raise 429 past it."""
        item = parse(rule)

        async def hit_or_reset(limiter: MovingWindowRateLimiter) -> float | None:
            if await limiter.hit(item, *keys):
                return None
            return (await limiter.get_window_stats(item, *keys)).reset_time

        reset_time = await self._call(hit_or_reset)
        if reset_time is None:
            return
        retry_after = max(1, math.ceil(reset_time - time.time()))
        raise RateLimited(
            message or f"Too many attempts; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )

    async def test(self, rule: str, *keys: str) -> bool:
        item: RateLimitItem = parse(rule)
        return await self._call(lambda limiter: limiter.test(item, *keys))

    async def clear(self, rule: str, *keys: str) -> None:
        item: RateLimitItem = parse(rule)
        await self._memory.clear(item, *keys)
        await self._call(lambda limiter: limiter.clear(item, *keys))

    async def reset(self) -> None:
        await self._memory.storage.reset()
        if self._shared is not None:
            await self._call(lambda limiter: limiter.storage.reset())
