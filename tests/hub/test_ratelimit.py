"""The rate limiter: 429 with Retry-After past the rule; Redis budgets are per key prefix."""

from __future__ import annotations

import time
import uuid

import pytest

from hub.errors import RateLimited
from hub.ratelimit import RateLimiter
from tests.fault.redis_server import RedisServer
from tests.fault.tcp_proxy import TcpProxy
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


@pytest.mark.redis
async def test_a_silent_redis_costs_a_request_at_most_a_second_then_memory_counts() -> None:
    server = RedisServer()
    server.start()
    proxy = TcpProxy("127.0.0.1", server.port)
    await proxy.start()
    try:
        limiter = RateLimiter(proxy.url(), key_prefix=f"hubtest-{uuid.uuid4().hex[:8]}:")
        await limiter.hit("2/minute", "k")
        assert not limiter.degraded
        proxy.blackhole()  # packets vanish: without a timeout the request would hang
        started = time.monotonic()
        await limiter.hit("2/minute", "k")  # counted in memory now: 1 of 2 there
        assert time.monotonic() - started < 3
        assert limiter.degraded
        started = time.monotonic()
        await limiter.hit("2/minute", "k")  # no second wait: Redis is not tried yet
        with pytest.raises(RateLimited):
            await limiter.hit("2/minute", "k")
        assert time.monotonic() - started < 0.5
    finally:
        await proxy.close()
        server.stop()
