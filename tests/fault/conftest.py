"""Fixtures for the fault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fault.redis_server import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private ``redis-server`` the test may stop and restart (never the shared one)."""
    with RedisServer() as server:
        yield server
