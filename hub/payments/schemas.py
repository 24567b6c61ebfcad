"""Request and response bodies of the payments API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.pagination import Page

ITEM_PATTERN = r"^[a-z0-9-]{1,32}$"


class CatalogueItemOut(BaseModel):
    item: str = Field(description="What to send to POST /api/v1/payments/checkout.")
    kind: str = Field(description="pack or membership.")
    name: str
    credits: int = Field(description="Credits of the pack, or a member's credits per month.")
    amount_cents: int = Field(description="Price in the currency's smallest unit.")
    currency: str


class MembershipPerksOut(BaseModel):
    monthly_credits: int
    priority: int = Field(description="Members' jobs are claimed before others' (higher first).")
    jobs_running: int = Field(description="Most running jobs per member.")
    jobs_queued: int = Field(description="Most queued jobs per member.")


class CatalogueOut(BaseModel):
    provider: str = Field(description="offline or stripe.")
    items: list[CatalogueItemOut]
    membership: MembershipPerksOut | None = Field(
        description="What membership gives; null when it is not on sale."
    )


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    item: str = Field(
        pattern=ITEM_PATTERN, description="A catalogue item: 'pack-500', 'membership', ..."
    )


class CheckoutOut(BaseModel):
    payment_id: str
    url: str = Field(description="Where to send the buyer to pay (the provider's checkout).")


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    payment_id: str
    user_id: int
    item: str
    kind: str
    credits: int
    amount_cents: int
    currency: str
    provider: str
    state: str = Field(description="pending, paid, canceled or refunded.")
    refunded_cents: int
    credits_reversed: int = Field(description="Credits a refund took back from the wallet.")
    shortfall: int = Field(description="Credits a refund could not take back (already spent).")
    created_at: datetime
    paid_at: datetime | None
    refunded_at: datetime | None


class PaymentPage(Page[PaymentOut]):
    pass


class MembershipOut(BaseModel):
    member: bool = Field(description="Whether the perks apply now.")
    state: str | None = Field(description="active, canceled, or null if never a member.")
    provider: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    perks: MembershipPerksOut


class WebhookOut(BaseModel):
    received: bool
    duplicate: bool = Field(description="This event id was handled before; nothing was done.")
