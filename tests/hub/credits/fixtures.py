"""Fixtures shared by the credits and job tests (imported by their conftest.py files)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette

from hub.db import Database
from hub.settings import Settings
from tests.hub.credits.helpers import FAST


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(update=FAST)


@pytest.fixture
async def db(fast_settings: Settings, app: Starlette) -> AsyncIterator[Database]:
    """A Database of its own (fast job settings) on the test database. Depends on ``app`` so
    that the app's teardown truncates Postgres after the test."""
    database = Database(fast_settings)
    try:
        yield database
    finally:
        await database.dispose()
