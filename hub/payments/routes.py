"""Payments API: catalogue, checkout, history and receipts, membership, the admin list and
refund, and Stripe's webhook."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import require_actor
from hub.api import CURSOR_REFUSAL, Refusal, json_response, operation, parse_body, parse_query
from hub.context import get_ctx
from hub.errors import (
    BadRequest,
    Conflict,
    ErrorCode,
    Forbidden,
    InvalidJSON,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from hub.pagination import PageParams
from hub.payments import events, service, stripe
from hub.payments.providers import provider_for
from hub.payments.schemas import (
    CatalogueOut,
    CheckoutIn,
    CheckoutOut,
    MembershipOut,
    PaymentOut,
    PaymentPage,
    WebhookOut,
)

UNKNOWN_ITEM = Refusal(
    422, ErrorCode.validation_error, "An item the catalogue does not sell.", "item", "unknown_item"
)
BAD_SIGNATURE = Refusal(
    400, ErrorCode.bad_request, "A delivery without a valid, fresh Stripe-Signature."
)


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(
        min_length=1, max_length=500, pattern=r"\S", description="Why (kept in the audit log)."
    )


def payment_id_of(request: Request) -> str:
    payment_id = str(request.path_params["payment_id"])
    if not payment_id.isascii() or not payment_id.isalnum() or len(payment_id) > 32:
        raise NotFound("No such payment.")
    return payment_id


@operation("What the hub sells", response=CatalogueOut, tags=("payments",))
async def get_catalogue(request: Request) -> Response:
    return json_response(service.get_catalogue(get_ctx(request).settings))


@operation(
    "Start buying a pack or the membership",
    request=CheckoutIn,
    response=CheckoutOut,
    status=201,
    auth=True,
    errors=(ValidationFailed, Unavailable),
    tags=("payments",),
    refuses=(UNKNOWN_ITEM,),
)
async def checkout(request: Request) -> Response:
    """Answers the URL to send the buyer to: the provider's checkout page (Stripe Checkout, or
    the hub's own confirm page with the offline provider)."""
    actor = await require_actor(request)
    body = await parse_body(request, CheckoutIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        answer = await service.start_checkout(
            session, actor, item_id=body.item, provider=provider_for(ctx.settings)
        )
    return json_response(answer, status=201)


@operation(
    "Your payments, newest first",
    query=PageParams,
    response=PaymentPage,
    auth=True,
    errors=(BadRequest,),
    tags=("payments",),
    refuses=(CURSOR_REFUSAL,),
)
async def list_payments(request: Request) -> Response:
    actor = await require_actor(request)
    params = parse_query(request, PageParams)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_payments(session, actor, params=params)
    return json_response(page)


@operation("A receipt", response=PaymentOut, auth=True, errors=(NotFound,), tags=("payments",))
async def get_payment(request: Request) -> Response:
    """Someone else's payment is 404, like a missing one."""
    actor = await require_actor(request)
    payment_id = payment_id_of(request)
    async with get_ctx(request).db.unit_of_work() as session:
        payment = await service.access_payment(session, actor, payment_id)
    return json_response(payment)


@operation("Your membership", response=MembershipOut, auth=True, tags=("payments",))
async def get_membership(request: Request) -> Response:
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        membership = await service.get_membership(session, actor)
    return json_response(membership)


@operation(
    "Stop renewing your membership",
    response=MembershipOut,
    auth=True,
    errors=(NotFound, Unavailable),
    tags=("payments",),
)
async def cancel_membership(request: Request) -> Response:
    """The perks last until the paid period ends."""
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        membership = await service.cancel_membership(session, actor)
    return json_response(membership)


@operation(
    "Every payment (admin)",
    query=PageParams,
    response=PaymentPage,
    auth=True,
    errors=(BadRequest, Forbidden),
    tags=("payments", "admin"),
    refuses=(CURSOR_REFUSAL,),
)
async def admin_list(request: Request) -> Response:
    actor = await require_actor(request)
    params = parse_query(request, PageParams)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_all_payments(session, actor, params=params)
    return json_response(page)


@operation(
    "Refund a payment (admin)",
    request=RefundIn,
    response=PaymentOut,
    auth=True,
    errors=(Forbidden, NotFound, Conflict, Unavailable),
    tags=("payments", "admin"),
)
async def admin_refund(request: Request) -> Response:
    """Returns the money and takes the credits back as far as the wallet holds them (the rest
    is the payment's ``shortfall``). Audited; refunding twice changes nothing."""
    actor = await require_actor(request)
    payment_id = payment_id_of(request)
    body = await parse_body(request, RefundIn)
    async with get_ctx(request).db.unit_of_work() as session:
        payment = await service.refund_payment(
            session, actor, payment_id=payment_id, reason=body.reason.strip()
        )
    return json_response(payment)


@operation(
    "Stripe's webhook",
    response=WebhookOut,
    errors=(BadRequest, InvalidJSON),
    tags=("payments",),
    refuses=(BAD_SIGNATURE,),
)
async def stripe_webhook(request: Request) -> Response:
    """Signed by Stripe (``Stripe-Signature``, HMAC-SHA256 over ``{t}.{body}`` with
    ``HUB_STRIPE_WEBHOOK_SECRET``, 300 s tolerance). Each event id is handled once."""
    ctx = get_ctx(request)
    payload = await request.body()
    secret = ctx.settings.stripe_webhook_secret.get_secret_value()
    header = request.headers.get(stripe.SIGNATURE_HEADER)
    stripe.verify(payload, header, secret, now=time.time())
    event = stripe.parse_event(payload)
    async with ctx.db.unit_of_work() as session:
        first = await events.handle_stripe_event(session, event)
    return json_response(WebhookOut(received=True, duplicate=not first))


routes: list[BaseRoute] = [
    Route("/api/v1/payments/catalogue", get_catalogue, methods=["GET"], name="payments_catalogue"),
    Route("/api/v1/payments/checkout", checkout, methods=["POST"], name="payments_checkout"),
    Route(
        "/api/v1/payments/webhooks/stripe",
        stripe_webhook,
        methods=["POST"],
        name="payments_stripe_webhook",
    ),
    Route("/api/v1/payments", list_payments, methods=["GET"], name="payments_list"),
    Route("/api/v1/payments/{payment_id}", get_payment, methods=["GET"], name="payments_get"),
    Route("/api/v1/me/membership", get_membership, methods=["GET"], name="membership_get"),
    Route(
        "/api/v1/me/membership/cancel",
        cancel_membership,
        methods=["POST"],
        name="membership_cancel",
    ),
    Route("/api/v1/admin/payments", admin_list, methods=["GET"], name="payments_admin_list"),
    Route(
        "/api/v1/admin/payments/{payment_id}/refund",
        admin_refund,
        methods=["POST"],
        name="payments_admin_refund",
    ),
]
