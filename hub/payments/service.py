"""Payments and membership: checkout, the provider's news of money moving, refunds, perks.

Credits move only through :mod:`hub.credits.service` with idempotency keys, so news of one
payment delivered twice (a webhook retried, a confirm button pressed twice, two processes at
once) grants once:

* a paid payment grants ``purchase`` credits with key ``payment:{payment_id}``;
* a refund takes them back with :func:`~hub.credits.service.revoke_credits`, key
  ``payment:{payment_id}:{refunded_cents}``, as far as the wallet holds them; the rest is the
  payment's ``shortfall``;
* every state change of a payment is a conditional UPDATE only one transaction wins.

Services flush and never commit (the caller's unit of work).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Table, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.roles import UserRole, require_role
from hub.audit import service as audit
from hub.credits import service as credits_service
from hub.credits.models import LedgerKind
from hub.db import settings_of, utcnow
from hub.errors import BadRequest, Conflict, NotFound, ValidationFailed
from hub.pagination import PageParams, decode_cursor, encode_cursor
from hub.payments import catalogue
from hub.payments.models import (
    Membership,
    MembershipState,
    Payment,
    PaymentKind,
    PaymentState,
    ProcessedEvent,
)
from hub.payments.providers import CheckoutRequest, PaymentProvider, StripeProvider
from hub.payments.schemas import (
    CatalogueItemOut,
    CatalogueOut,
    CheckoutOut,
    MembershipOut,
    MembershipPerksOut,
    PaymentOut,
    PaymentPage,
)
from hub.settings import Settings

log = logging.getLogger(__name__)

PAYMENTS: Table = Payment.metadata.tables[Payment.__tablename__]
MEMBERSHIPS: Table = Membership.metadata.tables[Membership.__tablename__]
EVENTS: Table = ProcessedEvent.metadata.tables[ProcessedEvent.__tablename__]


class PaymentsActor(Protocol):
    @property
    def user_id(self) -> int: ...

    @property
    def role(self) -> str: ...


# --- catalogue and perks -----------------------------------------------------------------------


def perks_out(settings: Settings) -> MembershipPerksOut:
    return MembershipPerksOut(
        monthly_credits=settings.membership_monthly_credits,
        priority=settings.membership_priority,
        jobs_running=settings.membership_jobs_running,
        jobs_queued=settings.membership_jobs_queued,
    )


def get_catalogue(settings: Settings) -> CatalogueOut:
    items = [
        CatalogueItemOut(
            item=item.item_id,
            kind=item.kind.value,
            name=item.name,
            credits=item.credits,
            amount_cents=item.amount_cents,
            currency=item.currency,
        )
        for item in catalogue.items(settings)
    ]
    plan = catalogue.membership(settings)
    return CatalogueOut(
        provider=settings.payments_provider,
        items=items,
        membership=perks_out(settings) if plan else None,
    )


@dataclass(frozen=True)
class Perks:
    """What a user's jobs get: queue priority and caps (members get more)."""

    member: bool
    priority: int
    jobs_running: int
    jobs_queued: int

    @property
    def running_cap(self) -> int | None:
        """What a queued job carries in ``jobs.running_cap``: None means the default cap."""
        return self.jobs_running if self.member else None


async def _membership(session: AsyncSession, user_id: int) -> Any:
    stmt = select(MEMBERSHIPS).where(MEMBERSHIPS.c.user_id == user_id)
    return (await session.execute(stmt)).first()


def _is_member(row: Any, now: datetime) -> bool:
    return bool(
        row is not None
        and row.state == MembershipState.active.value
        and row.current_period_end > now
    )


async def perks_for(session: AsyncSession, user_id: int) -> Perks:
    """The generation queue asks this when it queues a job (one indexed read)."""
    settings = settings_of(session)
    if _is_member(await _membership(session, user_id), utcnow()):
        return Perks(
            True,
            settings.membership_priority,
            settings.membership_jobs_running,
            settings.membership_jobs_queued,
        )
    return Perks(False, 0, settings.jobs_per_user_running, settings.jobs_per_user_queued)


async def get_membership(session: AsyncSession, actor: PaymentsActor) -> MembershipOut:
    settings = settings_of(session)
    row = await _membership(session, actor.user_id)
    return MembershipOut(
        member=_is_member(row, utcnow()),
        state=row.state if row else None,
        provider=row.provider if row else None,
        current_period_end=row.current_period_end if row else None,
        cancel_at_period_end=bool(row.cancel_at_period_end) if row else False,
        perks=perks_out(settings),
    )


# --- checkout ----------------------------------------------------------------------------------


def payment_of(row: Any) -> Payment:
    return Payment(**row._mapping)


async def get_payment_row(session: AsyncSession, payment_id: str) -> Payment | None:
    row = (
        await session.execute(select(PAYMENTS).where(PAYMENTS.c.payment_id == payment_id))
    ).first()
    return payment_of(row) if row else None


async def start_checkout(
    session: AsyncSession,
    actor: PaymentsActor,
    *,
    item_id: str,
    provider: PaymentProvider,
    email: str | None = None,
) -> CheckoutOut:
    """A pending payment of ``item_id`` and the provider's checkout URL. An item the
    catalogue does not sell is 422 (``details.fields[0].field == "item"``)."""
    settings = settings_of(session)
    item = catalogue.find(settings, item_id)
    if item is None:
        raise ValidationFailed(
            "The catalogue does not sell that item.",
            fields=[{"field": "item", "message": "unknown item", "type": "unknown_item"}],
        )
    payment_id = uuid.uuid4().hex
    base = settings.public_url.rstrip("/")
    # The provider first: no row (and on SQLite no write lock) is held while it answers.
    checkout = await provider.start_checkout(
        CheckoutRequest(
            payment_id=payment_id,
            user_id=actor.user_id,
            email=email,
            item=item,
            success_url=f"{base}/wallet/receipts/{payment_id}",
            cancel_url=f"{base}/wallet",
        )
    )
    now = utcnow()
    values = {
        "payment_id": payment_id,
        "user_id": actor.user_id,
        "item": item.item_id,
        "kind": item.kind.value,
        "credits": item.credits,
        "amount_cents": item.amount_cents,
        "currency": item.currency,
        "provider": provider.name,
        "state": PaymentState.pending.value,
        "checkout_ref": checkout.ref,
        "refunded_cents": 0,
        "credits_reversed": 0,
        "shortfall": 0,
        "created_at": now,
        "updated_at": now,
    }
    await session.execute(insert(PAYMENTS).values(**values))
    return CheckoutOut(payment_id=payment_id, url=checkout.url)


async def _extend_membership(
    session: AsyncSession,
    user_id: int,
    *,
    provider: str,
    period_end: datetime | None,
    subscription_ref: str | None = None,
) -> None:
    """Make ``user_id`` a member until ``period_end`` (default: one more period from the later
    of now and the current end)."""
    settings = settings_of(session)
    now = utcnow()
    row = await _membership(session, user_id)
    if period_end is None:
        start = row.current_period_end if _is_member(row, now) else now
        period_end = start + timedelta(days=settings.membership_period_days)
    values: dict[str, Any] = {
        "state": MembershipState.active.value,
        "provider": provider,
        "current_period_end": period_end,
        "cancel_at_period_end": False,
        "updated_at": now,
        "ended_at": None,
    }
    if subscription_ref is not None:
        values["subscription_ref"] = subscription_ref
    if row is None:
        stmt = _insert(session).values(user_id=user_id, started_at=now, **values)
        await session.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_=values))
        return
    if row.current_period_end > period_end and _is_member(row, now):
        values["current_period_end"] = row.current_period_end
    stmt = update(MEMBERSHIPS).where(MEMBERSHIPS.c.user_id == user_id).values(**values)
    await session.execute(stmt)


def _insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(MEMBERSHIPS)
    return sqlite.insert(MEMBERSHIPS)


async def mark_paid(
    session: AsyncSession,
    payment: Payment,
    *,
    period_end: datetime | None = None,
    subscription_ref: str | None = None,
    refs: dict[str, str] | None = None,
) -> Payment:
    """pending (or canceled, when the money came all the same) → paid, then the grant and,
    for a membership month, the membership. Paid already: only the refs are recorded."""
    now = utcnow()
    refs = {key: value for key, value in (refs or {}).items() if value}
    stmt = (
        update(PAYMENTS)
        .where(
            PAYMENTS.c.payment_id == payment.payment_id,
            PAYMENTS.c.state.in_([PaymentState.pending.value, PaymentState.canceled.value]),
        )
        .values(state=PaymentState.paid.value, paid_at=now, updated_at=now, **refs)
        .returning(*PAYMENTS.c)
    )
    won = (await session.execute(stmt)).first()
    if won is None:
        if refs:
            await session.execute(
                update(PAYMENTS).where(PAYMENTS.c.payment_id == payment.payment_id).values(**refs)
            )
        return await get_payment_row(session, payment.payment_id) or payment
    paid = payment_of(won)
    if paid.credits > 0:
        await credits_service.grant_credits(
            session,
            user_id=paid.user_id,
            amount=paid.credits,
            idempotency_key=f"payment:{paid.payment_id}",
            kind=LedgerKind.purchase,
            memo=f"Purchase: {paid.item} ({paid.payment_id})",
        )
    if paid.kind == PaymentKind.membership.value:
        await _extend_membership(
            session,
            paid.user_id,
            provider=paid.provider,
            period_end=period_end,
            subscription_ref=subscription_ref,
        )
    return paid


async def access_payment(
    session: AsyncSession, actor: PaymentsActor, payment_id: str
) -> PaymentOut:
    """The actor's payment (admins see anyone's); 404 for a missing one and for someone
    else's alike."""
    payment = await get_payment_row(session, payment_id)
    if payment is None or (
        payment.user_id != actor.user_id and UserRole(actor.role) is not UserRole.ADMIN
    ):
        raise NotFound("No such payment.")
    return PaymentOut.model_validate(payment)


async def _own_offline(session: AsyncSession, actor: PaymentsActor, payment_id: str) -> Payment:
    payment = await get_payment_row(session, payment_id)
    if payment is None or payment.user_id != actor.user_id or payment.provider != "offline":
        raise NotFound("No such payment.")
    return payment


async def get_offline_checkout(
    session: AsyncSession, actor: PaymentsActor, payment_id: str
) -> PaymentOut:
    return PaymentOut.model_validate(await _own_offline(session, actor, payment_id))


async def confirm_offline(
    session: AsyncSession, actor: PaymentsActor, payment_id: str
) -> PaymentOut:
    """The offline provider's "Pay" button: the buyer's own pending payment becomes paid.
    Pressing it again changes nothing; a canceled checkout is 409."""
    payment = await _own_offline(session, actor, payment_id)
    if payment.state == PaymentState.canceled.value:
        raise Conflict("This checkout was canceled; start a new one.")
    if payment.state == PaymentState.pending.value:
        payment = await mark_paid(session, payment)
    return PaymentOut.model_validate(payment)


async def cancel_offline(
    session: AsyncSession, actor: PaymentsActor, payment_id: str
) -> PaymentOut:
    await _own_offline(session, actor, payment_id)
    now = utcnow()
    await session.execute(
        update(PAYMENTS)
        .where(
            PAYMENTS.c.payment_id == payment_id,
            PAYMENTS.c.state == PaymentState.pending.value,
        )
        .values(state=PaymentState.canceled.value, updated_at=now)
    )
    return PaymentOut.model_validate(await get_payment_row(session, payment_id))


# --- lists -------------------------------------------------------------------------------------


async def _page(session: AsyncSession, params: PageParams, *where: Any) -> PaymentPage:
    stmt = select(PAYMENTS).where(*where)
    if params.cursor:
        created, payment_id = decode_cursor(params.cursor)
        if not isinstance(payment_id, str) or created.tzinfo is None:
            raise BadRequest("The cursor is not valid; start again without it.")
        key = tuple_(PAYMENTS.c.created_at, PAYMENTS.c.payment_id)
        stmt = stmt.where(key < (created, payment_id))
    stmt = stmt.order_by(PAYMENTS.c.created_at.desc(), PAYMENTS.c.payment_id.desc())
    rows = (await session.execute(stmt.limit(params.limit + 1))).all()
    items = [PaymentOut.model_validate(payment_of(row)) for row in rows[: params.limit]]
    next_cursor = None
    if len(rows) > params.limit:
        next_cursor = encode_cursor(items[-1].created_at, items[-1].payment_id)
    return PaymentPage(items=items, next_cursor=next_cursor)


async def list_payments(
    session: AsyncSession, actor: PaymentsActor, *, params: PageParams
) -> PaymentPage:
    """The actor's payments, newest first (cursor on created_at, payment_id)."""
    return await _page(session, params, PAYMENTS.c.user_id == actor.user_id)


async def list_all_payments(
    session: AsyncSession, actor: PaymentsActor, *, params: PageParams
) -> PaymentPage:
    require_role(actor, UserRole.ADMIN, to="list every payment")
    return await _page(session, params)


# --- refunds and cancellation ------------------------------------------------------------------


async def _claim_refund(session: AsyncSession, payment: Payment, refunded_cents: int) -> bool:
    """Record the refunded share; of two transactions handling the same news one wins (the
    other matches no row and returns False)."""
    full = refunded_cents >= payment.amount_cents
    now = utcnow()
    claim = (
        update(PAYMENTS)
        .where(
            PAYMENTS.c.payment_id == payment.payment_id,
            PAYMENTS.c.refunded_cents == payment.refunded_cents,
            PAYMENTS.c.state == payment.state,
        )
        .values(
            refunded_cents=refunded_cents,
            state=PaymentState.refunded.value if full else payment.state,
            refunded_at=now,
            updated_at=now,
        )
        .returning(PAYMENTS.c.payment_id)
    )
    return (await session.execute(claim)).first() is not None


async def _take_back(
    session: AsyncSession, payment: Payment, refunded_cents: int, actor_id: int | None
) -> None:
    """Revoke the credits of the refunded share not taken back yet, as far as the wallet holds
    them; the rest adds to the payment's shortfall."""
    if refunded_cents >= payment.amount_cents or payment.amount_cents == 0:
        target = payment.credits
    else:
        target = payment.credits * refunded_cents // payment.amount_cents
    due = target - payment.credits_reversed - payment.shortfall
    if due <= 0:
        return
    entry, short = await credits_service.revoke_credits(
        session,
        user_id=payment.user_id,
        amount=due,
        idempotency_key=f"payment:{payment.payment_id}:{refunded_cents}",
        memo=f"Refund: {payment.item} ({payment.payment_id})",
        actor_id=actor_id,
    )
    await session.execute(
        update(PAYMENTS)
        .where(PAYMENTS.c.payment_id == payment.payment_id)
        .values(
            credits_reversed=PAYMENTS.c.credits_reversed - entry.amount,
            shortfall=PAYMENTS.c.shortfall + short,
        )
    )


async def reverse_refund(
    session: AsyncSession,
    payment: Payment,
    refunded_cents: int,
    *,
    actor_id: int | None,
    reason: str | None = None,
) -> Payment:
    """Take back the credits of the refunded share of ``payment`` (``refunded_cents`` in all
    so far). News of a share already handled is a no-op. Audited (``payment.refund``)."""
    refunded_cents = min(refunded_cents, payment.amount_cents)
    if payment.state not in (PaymentState.paid.value, PaymentState.refunded.value):
        return payment
    if refunded_cents <= payment.refunded_cents:
        return payment
    if not await _claim_refund(session, payment, refunded_cents):
        return await get_payment_row(session, payment.payment_id) or payment
    await _take_back(session, payment, refunded_cents, actor_id)
    after = await get_payment_row(session, payment.payment_id) or payment
    await audit.record(
        session,
        actor_id=actor_id,
        action="payment.refund",
        target_type="payment",
        target_id=payment.payment_id,
        before={"state": payment.state, "refunded_cents": payment.refunded_cents},
        after={
            "state": after.state,
            "refunded_cents": after.refunded_cents,
            "credits_reversed": after.credits_reversed,
            "shortfall": after.shortfall,
        },
        reason=reason or "Refunded at the payment provider",
    )
    return after


def _provider_of(payment: Payment, settings: Settings) -> PaymentProvider | None:
    return StripeProvider(settings) if payment.provider == "stripe" else None


async def refund_payment(
    session: AsyncSession,
    actor: PaymentsActor,
    *,
    payment_id: str,
    reason: str,
    provider: PaymentProvider | None = None,
) -> PaymentOut:
    """An admin refunds a paid payment in full: the provider returns the money and the credits
    are taken back (as far as the wallet holds them; the rest is the ``shortfall``). Audited.
    A refunded payment stays as it is (idempotent); a pending or canceled one is 409."""
    require_role(actor, UserRole.ADMIN, to="refund payments")
    payment = await get_payment_row(session, payment_id)
    if payment is None:
        raise NotFound("No such payment.")
    if payment.state == PaymentState.refunded.value:
        return PaymentOut.model_validate(payment)
    if payment.state != PaymentState.paid.value:
        raise Conflict("Only a paid payment can be refunded.", state=payment.state)
    provider = provider or _provider_of(payment, settings_of(session))
    if provider is not None:
        await provider.refund(intent_ref=payment.intent_ref, charge_ref=payment.charge_ref)
    refunded = await reverse_refund(
        session, payment, payment.amount_cents, actor_id=actor.user_id, reason=reason
    )
    return PaymentOut.model_validate(refunded)


async def cancel_membership(
    session: AsyncSession, actor: PaymentsActor, *, provider: PaymentProvider | None = None
) -> MembershipOut:
    """Stop renewing: the member keeps the perks until the paid period ends. 404 without an
    active membership; cancelling twice changes nothing."""
    row = await _membership(session, actor.user_id)
    if not _is_member(row, utcnow()):
        raise NotFound("You have no active membership.")
    if not row.cancel_at_period_end:
        if row.provider == "stripe" and row.subscription_ref:
            stripe = provider or StripeProvider(settings_of(session))
            await stripe.cancel_subscription(row.subscription_ref)
        await session.execute(
            update(MEMBERSHIPS)
            .where(MEMBERSHIPS.c.user_id == actor.user_id)
            .values(cancel_at_period_end=True, updated_at=utcnow())
        )
    return await get_membership(session, actor)
