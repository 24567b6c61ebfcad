"""A hub whose payments go to a local fake Stripe (``stripe_client``), next to the default
offline one (``client``); both on the test's database (SQLite or Postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from hub.app import create_app
from hub.settings import Settings
from tests.conftest import TEST_ORIGIN
from tests.hub.credits.fixtures import db, fast_settings
from tests.hub.payments.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, serve_fake_stripe

__all__ = ["db", "fast_settings"]


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    async with serve_fake_stripe() as fake:
        yield fake


@pytest.fixture
async def stripe_app(
    settings: Settings, app: Starlette, fake_stripe: FakeStripe
) -> AsyncIterator[Starlette]:
    """The hub with ``HUB_PAYMENTS_PROVIDER=stripe`` pointed at the fake. Depends on ``app``,
    whose teardown empties Postgres after the test."""
    stripe_settings = settings.model_copy(
        update={
            "payments_provider": "stripe",
            "stripe_api_base": fake_stripe.url,
            "stripe_secret_key": SecretStr(SECRET_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
        }
    )
    application = create_app(stripe_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def stripe_client(stripe_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=stripe_app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_ORIGIN, headers={"origin": TEST_ORIGIN}
    ) as http:
        yield http
