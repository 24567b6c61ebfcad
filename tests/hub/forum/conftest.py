"""Forum test fixtures: the app with roomy community rate limits (each test's users are new
accounts, which get the tight ``*_NEW`` limits), which a module tightens by redefining
``forum_limits``; and a Database of its own on the test database."""

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
    "rate_limit_reaction_new": "1000/hour",
}


@pytest.fixture
def forum_limits() -> dict[str, Any]:
    """Settings a test module changes for its app (rate limits, the body limit)."""
    return {}


@pytest.fixture
def forum_settings(settings: Settings, forum_limits: dict[str, Any]) -> Settings:
    return settings.model_copy(update={**ROOMY, **forum_limits})


@pytest.fixture
async def app(settings: Settings, forum_settings: Settings) -> AsyncIterator[Starlette]:
    from hub.app import create_app

    application = create_app(forum_settings)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await truncate_postgres(settings)


@pytest.fixture
async def db(forum_settings: Settings, app: Starlette) -> AsyncIterator[Database]:
    """A Database of its own on the test database; depends on ``app`` so that the app's teardown
    empties Postgres after the test."""
    database = Database(forum_settings)
    try:
        yield database
    finally:
        await database.dispose()
