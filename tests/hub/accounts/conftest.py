"""Accounts test fixtures: cheap argon2 parameters (production ones cost ~170 ms per hash)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from hub.accounts import security

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def fast_password_hasher() -> Iterator[PasswordHasher]:
    previous = security.set_password_hasher(FAST_HASHER)
    yield FAST_HASHER
    security.set_password_hasher(previous)
