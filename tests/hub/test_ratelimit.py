"""The rate limiter: 429 with Retry-After past the rule; Redis budgets are per key prefix."""

from __future__ import annotations

import uuid

import pytest

from hub.errors import RateLimited
from hub.ratelimit import RateLimiter
from tests.helpers import REDIS_TEST_URL, port_open, service_missing


async def test_memory_limiter_raises_with_retry_after() -> None:
    limiter = RateLimiter()
    await limiter.hit("2/minute", "k")
    await limiter.hit("2/minute", "k")
    with pytest.raises(RateLimited) as caught:
        await limiter.hit("2/minute", "k")
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 60
    await limiter.hit("2/minute", "other")  # other keys keep their own budget


@pytest.mark.redis
async def test_redis_budgets_do_not_leak_between_prefixes() -> None:
    if not port_open("127.0.0.1", 6379):
        service_missing("Redis at 127.0.0.1:6379", "connection refused")
    run = uuid.uuid4().hex[:8]
    first = RateLimiter(REDIS_TEST_URL, key_prefix=f"hubtest-{run}-a:")
    second = RateLimiter(REDIS_TEST_URL, key_prefix=f"hubtest-{run}-b:")
    await first.hit("1/minute", "user", "1")
    with pytest.raises(RateLimited):
        await first.hit("1/minute", "user", "1")
    await second.hit("1/minute", "user", "1")  # a different hub on the same Redis
    await first.clear("1/minute", "user", "1")
    await second.clear("1/minute", "user", "1")
