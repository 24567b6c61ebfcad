"""The Stripe provider against the fake Stripe over a real socket: what it sends, and that every
failure of Stripe's is a 503 ``unavailable`` (never a 500, never a half-made payment)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from hub.errors import Unavailable
from hub.payments import catalogue
from hub.payments.providers import CheckoutRequest, StripeProvider
from hub.settings import Settings
from tests.helpers import free_port
from tests.hub.payments.fake_stripe import SECRET_KEY, FakeStripe


def _request(settings: Settings) -> CheckoutRequest:
    item = catalogue.find(settings, "pack-500")
    assert item is not None
    return CheckoutRequest("p1", 7, "ada@example.com", item, "http://x/ok", "http://x/no")


def _provider(settings: Settings, base: str, key: str = SECRET_KEY) -> StripeProvider:
    return StripeProvider(
        settings.model_copy(update={"stripe_api_base": base, "stripe_secret_key": SecretStr(key)})
    )


async def test_stripe_checkout_refund_and_cancel_speak_stripes_api(
    settings: Settings, fake_stripe: FakeStripe
) -> None:
    provider = _provider(settings, fake_stripe.url)
    made = await provider.start_checkout(_request(settings))
    assert made.ref is not None
    assert made.ref.startswith("cs_test_")
    assert made.url == f"{fake_stripe.url}/c/pay/{made.ref}"
    assert fake_stripe.requests[-1][1]["customer_email"] == "ada@example.com"
    await provider.refund(intent_ref="pi_1", charge_ref=None)
    with pytest.raises(Unavailable, match="already been refunded"):
        await provider.refund(intent_ref="pi_1", charge_ref=None)
    with pytest.raises(Unavailable):
        await provider.refund(intent_ref=None, charge_ref=None)
    await provider.cancel_subscription("sub_1")
    assert fake_stripe.requests[-1] == ("/v1/subscriptions/sub_1", {"cancel_at_period_end": "true"})


async def test_stripe_failures_are_unavailable(settings: Settings, fake_stripe: FakeStripe) -> None:
    with pytest.raises(Unavailable, match="Invalid API Key"):
        await _provider(settings, fake_stripe.url, "sk_test_wrong").start_checkout(
            _request(settings)
        )
    with pytest.raises(Unavailable, match="not configured"):
        await _provider(settings, fake_stripe.url, "").start_checkout(_request(settings))
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(Unavailable, match="cannot be reached"):
        await _provider(settings, closed).start_checkout(_request(settings))
