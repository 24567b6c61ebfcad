"""What the hub sells, read from Settings: credit packs and the monthly membership."""

from __future__ import annotations

from dataclasses import dataclass

from hub.payments.models import PaymentKind
from hub.settings import Settings

MEMBERSHIP = "membership"


@dataclass(frozen=True)
class Item:
    item_id: str  # "pack-500", "membership"
    kind: PaymentKind
    credits: int  # the pack's credits, or the membership's credits per month
    amount_cents: int
    currency: str

    @property
    def name(self) -> str:
        if self.kind is PaymentKind.membership:
            return f"Membership ({self.credits} credits a month)"
        return f"{self.credits} credits"


def packs(settings: Settings) -> list[Item]:
    """``HUB_PAYMENTS_PACKS`` (``credits:cents,...``), in the order given; a repeated size is
    sold once (its first price)."""
    found: dict[str, Item] = {}
    for pair in filter(None, settings.payments_packs.split(",")):
        size, _, cents = pair.partition(":")
        if int(size) <= 0:
            continue
        item = Item(
            f"pack-{int(size)}",
            PaymentKind.pack,
            int(size),
            int(cents),
            settings.payments_currency,
        )
        found.setdefault(item.item_id, item)
    return list(found.values())


def membership(settings: Settings) -> Item | None:
    """The monthly membership, or None when it is off sale (price 0)."""
    if settings.membership_price_cents <= 0:
        return None
    return Item(
        MEMBERSHIP,
        PaymentKind.membership,
        settings.membership_monthly_credits,
        settings.membership_price_cents,
        settings.payments_currency,
    )


def items(settings: Settings) -> list[Item]:
    plan = membership(settings)
    return [*packs(settings), *([plan] if plan else [])]


def find(settings: Settings, item_id: str) -> Item | None:
    return next((item for item in items(settings) if item.item_id == item_id), None)
