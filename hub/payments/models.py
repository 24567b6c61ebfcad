"""Tables of the payments domain: payments, memberships and the provider events already handled.

A **payment** is one purchase: a credit pack, or one paid month of membership. It is created
``pending`` when checkout starts and becomes ``paid`` once the provider says so (the offline
confirm page, or Stripe's ``checkout.session.completed`` / ``invoice.paid`` webhook), which grants
its credits with the idempotency key ``payment:{payment_id}`` (so twice-delivered news of the same
payment grants once). A refund reverses the grant as far as the wallet allows and records the rest
as ``shortfall``.

``processed_events`` holds the id of every provider event handled: an event delivered again is
answered and skipped (docs/payments.md, "Webhooks").
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field


class PaymentKind(StrEnum):
    pack = "pack"
    membership = "membership"


class PaymentState(StrEnum):
    pending = "pending"
    paid = "paid"
    canceled = "canceled"
    refunded = "refunded"


class MembershipState(StrEnum):
    active = "active"
    canceled = "canceled"


def _user_fk(table: str) -> ForeignKey:
    return ForeignKey("users.user_id", ondelete="CASCADE", name=f"fk_{table}_user_id_users")


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'paid', 'canceled', 'refunded')", name="ck_payments_state"
        ),
        CheckConstraint("kind IN ('pack', 'membership')", name="ck_payments_kind"),
        CheckConstraint("credits >= 0 AND amount_cents >= 0", name="ck_payments_amounts"),
        # One payment per Stripe invoice (a membership month) and per Checkout Session.
        UniqueConstraint("invoice_ref", name="uq_payments_invoice_ref"),
        UniqueConstraint("checkout_ref", name="uq_payments_checkout_ref"),
        # "My payments", newest first, and the admin list.
        Index("ix_payments_user_created", "user_id", "created_at", "payment_id"),
        Index("ix_payments_created", "created_at", "payment_id"),
        # charge.refunded names the charge and its payment intent.
        Index("ix_payments_charge_ref", "charge_ref"),
        Index("ix_payments_intent_ref", "intent_ref"),
    )

    payment_id: str = Field(sa_column=Column(String(32), primary_key=True))
    user_id: int = Field(sa_column=Column(Integer, _user_fk("payments"), nullable=False))
    item: str = Field(sa_column=Column(String(32), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    credits: int = Field(sa_column=Column(Integer, nullable=False))
    amount_cents: int = Field(sa_column=Column(Integer, nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    provider: str = Field(sa_column=Column(String(16), nullable=False))
    state: str = Field(
        default=PaymentState.pending.value, sa_column=Column(String(16), nullable=False)
    )
    # Stripe's ids: the Checkout Session, the invoice of a membership month, the PaymentIntent
    # and the charge (what charge.refunded names).
    checkout_ref: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    invoice_ref: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    intent_ref: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    charge_ref: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    refunded_cents: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # Credits taken back by refunds, and those the wallet no longer held (already spent).
    credits_reversed: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    shortfall: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_at: datetime = now_field()
    updated_at: datetime = now_field()
    paid_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    refunded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("state IN ('active', 'canceled')", name="ck_memberships_state"),
        UniqueConstraint("subscription_ref", name="uq_memberships_subscription_ref"),
    )

    user_id: int = Field(
        sa_column=Column(Integer, _user_fk("memberships"), primary_key=True, autoincrement=False)
    )
    state: str = Field(sa_column=Column(String(16), nullable=False))
    provider: str = Field(sa_column=Column(String(16), nullable=False))
    subscription_ref: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    # Perks hold while state is active and this is in the future.
    current_period_end: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    cancel_at_period_end: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    started_at: datetime = now_field()
    updated_at: datetime = now_field()
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"

    event_id: str = Field(sa_column=Column(String(255), primary_key=True))
    provider: str = Field(sa_column=Column(String(16), nullable=False))
    event_type: str = Field(sa_column=Column(String(64), nullable=False))
    received_at: datetime = now_field()
