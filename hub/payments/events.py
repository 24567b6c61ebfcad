"""Stripe's events, once each: what ``checkout.session.completed``, ``invoice.paid``,
``charge.refunded`` and ``customer.subscription.deleted`` do to payments and memberships.

The webhook route verifies the signature (:mod:`hub.payments.stripe`) and calls
:func:`handle_stripe_event` in one unit of work: the event id goes into ``processed_events``
first (``ON CONFLICT DO NOTHING``), so a redelivered event does nothing, and every grant or
reversal it causes has its own idempotency key as well (docs/payments.md, "Webhooks").
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import settings_of, utcnow
from hub.payments import catalogue
from hub.payments.models import MembershipState, Payment, PaymentKind, PaymentState
from hub.payments.service import (
    EVENTS,
    MEMBERSHIPS,
    PAYMENTS,
    get_payment_row,
    mark_paid,
    payment_of,
    reverse_refund,
)
from hub.payments.stripe import Event

log = logging.getLogger(__name__)


async def _first_delivery(session: AsyncSession, event: Event) -> bool:
    """Record the event id; False when it was recorded before (a redelivery)."""
    dialect = session.get_bind().dialect.name
    table = postgresql.insert(EVENTS) if dialect == "postgresql" else sqlite.insert(EVENTS)
    stmt = (
        table.values(
            event_id=event.event_id,
            provider="stripe",
            event_type=event.event_type,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(EVENTS.c.event_id)
    )
    return (await session.execute(stmt)).first() is not None


def _text(obj: Any, *path: str) -> str | None:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj if isinstance(obj, str) and obj else None


def _ref(value: Any) -> str | None:
    """An expandable Stripe field: an id, or the object with its ``id``."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _when(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**34:
        return datetime.fromtimestamp(value, UTC)
    return None


async def _by_ref(session: AsyncSession, **refs: str | None) -> Payment | None:
    conditions = [PAYMENTS.c[name] == value for name, value in refs.items() if value]
    if not conditions:
        return None
    row = (await session.execute(select(PAYMENTS).where(or_(*conditions)).limit(1))).first()
    return payment_of(row) if row else None


async def _checkout_completed(session: AsyncSession, obj: dict[str, Any]) -> None:
    payment_id = _text(obj, "client_reference_id") or _text(obj, "metadata", "hub_payment_id")
    payment = await get_payment_row(session, payment_id) if payment_id else None
    if payment is None:
        log.warning(
            "checkout.session.completed for an unknown payment", extra={"id": obj.get("id")}
        )
        return
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return  # an asynchronous payment method: Stripe sends ...async_payment_succeeded later
    await mark_paid(
        session,
        payment,
        subscription_ref=_ref(obj.get("subscription")),
        refs={"intent_ref": _ref(obj.get("payment_intent")) or ""},
    )


def _invoice_subscription(obj: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The subscription id and its metadata, from the invoice shapes of older API versions
    (``subscription``, ``subscription_details``) and newer ones (``parent``)."""
    details = obj.get("subscription_details")
    parent = obj.get("parent")
    if isinstance(parent, dict) and isinstance(parent.get("subscription_details"), dict):
        details = parent["subscription_details"]
    details = details if isinstance(details, dict) else {}
    sub_ref = _ref(obj.get("subscription")) or _ref(details.get("subscription"))
    metadata = details.get("metadata")
    return sub_ref, metadata if isinstance(metadata, dict) else {}


def _period_end(obj: dict[str, Any]) -> datetime | None:
    lines = obj.get("lines")
    data = lines.get("data") if isinstance(lines, dict) else None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        period = data[0].get("period")
        if isinstance(period, dict) and _when(period.get("end")):
            return _when(period.get("end"))
    return None


async def _invoice_paid(session: AsyncSession, obj: dict[str, Any]) -> None:
    invoice_ref = _ref(obj.get("id"))
    sub_ref, metadata = _invoice_subscription(obj)
    if invoice_ref is None or sub_ref is None:
        return  # not a subscription's invoice
    refs = {
        "invoice_ref": invoice_ref,
        "intent_ref": _ref(obj.get("payment_intent")) or "",
        "charge_ref": _ref(obj.get("charge")) or "",
    }
    payment = await _by_ref(session, invoice_ref=invoice_ref)
    if payment is None and obj.get("billing_reason") == "subscription_create":
        first = _text(metadata, "hub_payment_id")
        payment = await get_payment_row(session, first) if first else None
        if payment is not None and payment.invoice_ref not in (None, invoice_ref):
            payment = None
    if payment is None:
        member = await session.execute(
            select(MEMBERSHIPS.c.user_id).where(MEMBERSHIPS.c.subscription_ref == sub_ref)
        )
        user_id = member.scalar_one_or_none()
        raw_user = _text(metadata, "hub_user_id")
        if user_id is None and raw_user and raw_user.isdigit():
            user_id = int(raw_user)
        if user_id is None:
            log.warning("invoice.paid for an unknown subscription", extra={"id": invoice_ref})
            return
        settings = settings_of(session)
        now = utcnow()
        amount = obj.get("amount_paid")
        payment = Payment(
            payment_id=uuid.uuid4().hex,
            user_id=user_id,
            item=catalogue.MEMBERSHIP,
            kind=PaymentKind.membership.value,
            credits=settings.membership_monthly_credits,
            amount_cents=amount if isinstance(amount, int) and amount >= 0 else 0,
            currency=(_text(obj, "currency") or settings.payments_currency)[:3],
            provider="stripe",
            state=PaymentState.pending.value,
            invoice_ref=invoice_ref,
            created_at=now,
            updated_at=now,
        )
        session.add(payment)
        await session.flush()
    await mark_paid(
        session, payment, period_end=_period_end(obj), subscription_ref=sub_ref, refs=refs
    )


async def _charge_refunded(session: AsyncSession, obj: dict[str, Any]) -> None:
    payment = await _by_ref(
        session,
        intent_ref=_ref(obj.get("payment_intent")),
        charge_ref=_ref(obj.get("id")),
        invoice_ref=_ref(obj.get("invoice")),
    )
    refunded = obj.get("amount_refunded")
    if payment is None or not isinstance(refunded, int) or refunded <= 0:
        return
    await reverse_refund(session, payment, refunded, actor_id=None)


async def _subscription_deleted(session: AsyncSession, obj: dict[str, Any]) -> None:
    sub_ref = _ref(obj.get("id"))
    if sub_ref is None:
        return
    now = utcnow()
    await session.execute(
        update(MEMBERSHIPS)
        .where(MEMBERSHIPS.c.subscription_ref == sub_ref)
        .values(
            state=MembershipState.canceled.value,
            ended_at=now,
            current_period_end=now,
            updated_at=now,
        )
    )


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "invoice.paid": _invoice_paid,
    "charge.refunded": _charge_refunded,
    "customer.subscription.deleted": _subscription_deleted,
}


async def handle_stripe_event(session: AsyncSession, event: Event) -> bool:
    """Apply a verified event once; False when its id was handled before (nothing is done).
    Types the hub does not use are recorded and ignored."""
    if not await _first_delivery(session, event):
        return False
    handler = HANDLERS.get(event.event_type)
    if handler is not None:
        await handler(session, event.data)
    return True
