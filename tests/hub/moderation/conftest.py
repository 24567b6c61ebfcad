"""Moderation test fixtures: the app with roomy community limits (each test's users are new
accounts) and a setting a module may change (``moderation_overrides``, e.g. pre-review on)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette

from hub.db import Database
from hub.settings import Settings
from tests.databases import truncate_postgres

ROOMY = {
    "rate_limit_thread_new": "1000/hour",
    "rate_limit_comment_new": "1000/hour",
    "rate_limit_work_new": "1000/hour",
}


@pytest.fixture
def moderation_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def moderation_settings(settings: Settings, moderation_overrides: dict[str, Any]) -> Settings:
    return settings.model_copy(update={**ROOMY, **moderation_overrides})


@pytest.fixture
async def app(settings: Settings, moderation_settings: Settings) -> AsyncIterator[Starlette]:
    from hub.app import create_app

    application = create_app(moderation_settings)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await truncate_postgres(settings)


@pytest.fixture
async def db(moderation_settings: Settings, app: Starlette) -> AsyncIterator[Database]:
    database = Database(moderation_settings)
    try:
        yield database
    finally:
        await database.dispose()
