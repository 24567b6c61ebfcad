"""A local fake of the part of Stripe's API the hub uses, served by a real uvicorn on a free
port, and Stripe's event payloads (the shapes of https://docs.stripe.com/api/events/types),
signed the way Stripe signs webhook deliveries.

The fake checks what Stripe checks that matters here: the secret key as a bearer token, a
form-encoded body, the required Checkout Session parameters, and that a payment is refunded at
most once; it answers with Stripe's object and error shapes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.payments.stripe import sign
from tests.helpers import free_port
from tests.live import start_uvicorn

SECRET_KEY = "sk_test_hub_fake_0123456789"
WEBHOOK_SECRET = "whsec_test_hub_fake_0123456789"
API_VERSION = "2024-06-20"


def _error(status: int, message: str, code: str, kind: str = "invalid_request_error") -> Response:
    return JSONResponse({"error": {"type": kind, "code": code, "message": message}}, status)


@dataclass
class FakeStripe:
    url: str = ""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refunded: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):06d}"

    async def _form(self, request: Request) -> dict[str, str] | Response:
        if request.headers.get("authorization") != f"Bearer {SECRET_KEY}":
            return _error(401, "Invalid API Key provided.", "api_key_invalid")
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return _error(400, "Send form-encoded parameters.", "parameter_invalid")
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.requests.append((request.url.path, form))
        return form

    async def checkout_sessions(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        for name in ("mode", "success_url", "line_items[0][quantity]"):
            if name not in form:
                return _error(400, f"Missing required param: {name}.", "parameter_missing")
        if form["mode"] not in ("payment", "subscription"):
            return _error(400, "Invalid mode.", "parameter_invalid_string")
        session_id = self.new_id("cs")
        metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        body = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "client_reference_id": form.get("client_reference_id"),
            "metadata": metadata,
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "url": f"{self.url}/c/pay/{session_id}",
        }
        return JSONResponse(body)

    async def refunds(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        target = form.get("payment_intent") or form.get("charge")
        if not target:
            return _error(400, "Missing required param: charge.", "parameter_missing")
        if target in self.refunded:
            return _error(
                400, f"Charge {target} has already been refunded.", "charge_already_refunded"
            )
        self.refunded.add(target)
        body = {"id": self.new_id("re"), "object": "refund", "status": "succeeded"}
        return JSONResponse({**body, "payment_intent": form.get("payment_intent")})

    async def subscription(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        sub_id = request.path_params["sub_id"]
        body = {"id": sub_id, "object": "subscription", "status": "active"}
        return JSONResponse(
            {**body, "cancel_at_period_end": form.get("cancel_at_period_end") == "true"}
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/checkout/sessions", self.checkout_sessions, methods=["POST"]),
                Route("/v1/refunds", self.refunds, methods=["POST"]),
                Route("/v1/subscriptions/{sub_id}", self.subscription, methods=["POST"]),
            ]
        )


@contextlib.asynccontextmanager
async def serve_fake_stripe() -> AsyncIterator[FakeStripe]:
    fake = FakeStripe()
    port = free_port()
    fake.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        fake.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server, task = await start_uvicorn(config)
    try:
        yield fake
    finally:
        server.should_exit = True
        await task


# --- events ------------------------------------------------------------------------------------

_events = itertools.count(1)


def event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
    """A Stripe event envelope around ``obj``, as its body bytes."""
    body = {
        "id": event_id or f"evt_test_{next(_events):08d}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    return json.dumps(body).encode()


def signature(payload: bytes, *, at: int | None = None, secret: str = WEBHOOK_SECRET) -> str:
    """The Stripe-Signature header Stripe would send with ``payload`` at time ``at``."""
    timestamp = int(time.time()) if at is None else at
    return f"t={timestamp},v1={sign(payload, secret, timestamp)}"


def checkout_completed(
    session_id: str, payment_id: str, *, mode: str = "payment", intent: str | None = None,
    subscription: str | None = None, amount: int = 499,
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": session_id,
        "object": "checkout.session",
        "amount_total": amount,
        "currency": "usd",
        "client_reference_id": payment_id,
        "customer": "cus_test_1",
        "metadata": {"hub_payment_id": payment_id},
        "mode": mode,
        "payment_intent": intent,
        "payment_status": "paid",
        "status": "complete",
        "subscription": subscription,
    }


def invoice_paid(
    invoice_id: str, subscription: str, *, user_id: int, payment_id: str | None = None,
    first: bool = False, amount: int = 999, intent: str | None = None, period_end: int,
) -> dict[str, Any]:  # fmt: skip
    metadata = {
        "hub_user_id": str(user_id),
        **({"hub_payment_id": payment_id} if payment_id else {}),
    }
    return {
        "id": invoice_id,
        "object": "invoice",
        "amount_paid": amount,
        "billing_reason": "subscription_create" if first else "subscription_cycle",
        "currency": "usd",
        "customer": "cus_test_1",
        "paid": True,
        "status": "paid",
        "payment_intent": intent,
        "charge": None,
        "subscription": subscription,
        "subscription_details": {"metadata": metadata},
        "lines": {
            "object": "list",
            "data": [
                {
                    "object": "line_item",
                    "period": {"start": period_end - 2_592_000, "end": period_end},
                }
            ],
        },
    }


def charge_refunded(charge_id: str, intent: str, *, amount: int, refunded: int) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "usd",
        "payment_intent": intent,
        "refunded": refunded >= amount,
        "status": "succeeded",
    }


def subscription_deleted(subscription: str) -> dict[str, Any]:
    return {
        "id": subscription,
        "object": "subscription",
        "status": "canceled",
        "cancel_at_period_end": False,
        "customer": "cus_test_1",
    }
