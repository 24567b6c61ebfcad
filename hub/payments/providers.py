"""Payment providers: the interface the service uses, the offline provider and Stripe.

The service decides what is sold and what a paid, refunded or canceled purchase does to the
wallet; a provider only moves money: it starts a checkout (a URL to send the buyer to), refunds a
payment and cancels a subscription. News that money moved comes back separately: the offline
confirm page, or Stripe's signed webhooks (:mod:`hub.payments.stripe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from hub.errors import Unavailable
from hub.payments.catalogue import Item
from hub.payments.models import PaymentKind
from hub.settings import Settings

STRIPE_TIMEOUT = 15.0


@dataclass(frozen=True)
class Checkout:
    url: str  # where to send the buyer
    ref: str | None  # the provider's id of the checkout (Stripe's Checkout Session id)


@dataclass(frozen=True)
class CheckoutRequest:
    payment_id: str
    user_id: int
    email: str | None
    item: Item
    success_url: str
    cancel_url: str


class PaymentProvider(Protocol):
    name: str

    async def start_checkout(self, request: CheckoutRequest) -> Checkout: ...

    async def refund(self, *, intent_ref: str | None, charge_ref: str | None) -> None: ...

    async def cancel_subscription(self, subscription_ref: str) -> None: ...


class OfflineProvider:
    """No money moves: checkout is the hub's own confirm page (``/payments/offline/{id}``),
    where the buyer confirms or cancels. For the embedded mode, demos and tests."""

    name = "offline"

    async def start_checkout(self, request: CheckoutRequest) -> Checkout:
        return Checkout(url=f"/payments/offline/{request.payment_id}", ref=None)

    async def refund(self, *, intent_ref: str | None, charge_ref: str | None) -> None:
        return None

    async def cancel_subscription(self, subscription_ref: str) -> None:
        return None


def checkout_form(request: CheckoutRequest) -> dict[str, str]:
    """The form of ``POST /v1/checkout/sessions`` (Stripe's documented parameters)."""
    item = request.item
    subscription = item.kind is PaymentKind.membership
    form = {
        "mode": "subscription" if subscription else "payment",
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "client_reference_id": request.payment_id,
        "metadata[hub_payment_id]": request.payment_id,
        "metadata[hub_user_id]": str(request.user_id),
        "metadata[hub_item]": item.item_id,
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": item.currency,
        "line_items[0][price_data][unit_amount]": str(item.amount_cents),
        "line_items[0][price_data][product_data][name]": item.name,
    }
    if subscription:
        # The subscription's invoices carry these (invoice.paid names the member and, for the
        # first month, the payment checkout started).
        form["line_items[0][price_data][recurring][interval]"] = "month"
        form["subscription_data[metadata][hub_user_id]"] = str(request.user_id)
        form["subscription_data[metadata][hub_payment_id]"] = request.payment_id
    if request.email:
        form["customer_email"] = request.email
    return form


class StripeProvider:
    """Stripe's REST API over httpx: form-encoded requests, the secret key as a bearer token
    (https://docs.stripe.com/api). ``HUB_STRIPE_API_BASE`` points elsewhere in tests."""

    name = "stripe"

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None):
        self._base = settings.stripe_api_base.rstrip("/")
        self._key = settings.stripe_secret_key.get_secret_value()
        self._transport = transport

    async def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        if not self._key:
            raise Unavailable("Payments are not configured (HUB_STRIPE_SECRET_KEY is empty).")
        headers = {"authorization": f"Bearer {self._key}"}
        try:
            async with httpx.AsyncClient(
                base_url=self._base, timeout=STRIPE_TIMEOUT, transport=self._transport
            ) as http:
                answer = await http.post(path, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise Unavailable(f"The payment provider cannot be reached: {exc}") from None
        if answer.status_code >= 400:
            message = _stripe_error(answer)
            raise Unavailable(
                f"The payment provider refused the request: {message}",
                provider_status=answer.status_code,
            )
        body: dict[str, Any] = answer.json()
        return body

    async def start_checkout(self, request: CheckoutRequest) -> Checkout:
        session = await self._post("/v1/checkout/sessions", checkout_form(request))
        url, ref = session.get("url"), session.get("id")
        if not isinstance(url, str) or not isinstance(ref, str):
            raise Unavailable("The payment provider answered without a checkout URL.")
        return Checkout(url=url, ref=ref)

    async def refund(self, *, intent_ref: str | None, charge_ref: str | None) -> None:
        if intent_ref:
            await self._post("/v1/refunds", {"payment_intent": intent_ref})
        elif charge_ref:
            await self._post("/v1/refunds", {"charge": charge_ref})
        else:
            raise Unavailable("Stripe has not told the hub which charge paid for this.")

    async def cancel_subscription(self, subscription_ref: str) -> None:
        # At the period's end: the member keeps what they paid for; Stripe then sends
        # customer.subscription.deleted, which ends the membership.
        path = f"/v1/subscriptions/{quote(subscription_ref, safe='')}"
        await self._post(path, {"cancel_at_period_end": "true"})


def _stripe_error(answer: httpx.Response) -> str:
    try:
        error = answer.json().get("error", {})
        return str(error.get("message") or error.get("type") or answer.status_code)
    except ValueError:
        return str(answer.status_code)


def provider_for(settings: Settings) -> PaymentProvider:
    if settings.payments_provider == "stripe":
        return StripeProvider(settings)
    return OfflineProvider()
