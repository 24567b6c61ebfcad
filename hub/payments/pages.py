"""Browser pages: the wallet (balance, ledger, spending chart, shop, payment history), receipts
and the offline provider's confirm page. Forms post with the session's CSRF token
(:func:`hub.accounts.deps.current_actor` checks it) and need no script."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import csrf_token_for, current_actor
from hub.api import validate
from hub.context import get_ctx
from hub.credits import service as credits_service
from hub.db import utcnow
from hub.pages import render, to_login
from hub.pagination import PageParams
from hub.payments import service
from hub.payments.providers import provider_for
from hub.payments.routes import payment_id_of

CHART_DAYS = 30
CHART_WIDTH = 600
CHART_HEIGHT = 120


@dataclass(frozen=True)
class Bar:
    day: date
    spent: int
    x: float
    y: float
    width: float
    height: float


def spending_bars(totals: list[tuple[date, int]], today: date) -> tuple[list[Bar], int]:
    """One bar per day of the last :data:`CHART_DAYS` days (zero days included), scaled to the
    busiest day; and that day's total (the chart's top)."""
    by_day = dict(totals)
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    top = max([by_day.get(day, 0) for day in days] + [1])
    slot = CHART_WIDTH / CHART_DAYS
    bars = []
    for index, day in enumerate(days):
        spent = by_day.get(day, 0)
        height = round(CHART_HEIGHT * spent / top, 1)
        bars.append(
            Bar(day, spent, round(index * slot + 1, 1), CHART_HEIGHT - height, slot - 2, height)
        )
    return bars, top


def money(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency.upper()}"


async def wallet_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    params = validate(PageParams, dict(request.query_params))
    ctx = get_ctx(request)
    today = utcnow().date()
    async with ctx.db.unit_of_work() as session:
        balance = await credits_service.get_balance(session, actor.user_id)
        ledger = await credits_service.list_ledger(session, actor, params=params)
        since = utcnow() - timedelta(days=CHART_DAYS)
        totals = await credits_service.spending_by_day(session, actor.user_id, since=since)
        payments = await service.list_payments(session, actor, params=PageParams(limit=20))
        membership = await service.get_membership(session, actor)
    bars, top = spending_bars(totals, today)
    context: dict[str, Any] = {
        "actor": actor,
        "balance": balance,
        "ledger": ledger,
        "bars": bars,
        "top": top,
        "spent_total": sum(bar.spent for bar in bars),
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "days": CHART_DAYS},
        "catalogue": service.get_catalogue(ctx.settings),
        "payments": payments,
        "membership": membership,
        "money": money,
        "csrf": csrf_token_for(request),
    }
    return render(request, "payments/wallet.html", context)


async def receipt_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    payment_id = payment_id_of(request)
    async with get_ctx(request).db.unit_of_work() as session:
        payment = await service.access_payment(session, actor, payment_id)
    context = {"actor": actor, "payment": payment, "money": money}
    return render(request, "payments/receipt.html", context)


async def buy_form(request: Request) -> Response:
    """The shop's "Buy" buttons: start checkout, then go to the provider's page."""
    actor = await current_actor(request)  # checks the form's CSRF token
    if actor is None:
        return to_login(request)
    form = await request.form()
    item = form.get("item")
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        answer = await service.start_checkout(
            session,
            actor,
            item_id=item if isinstance(item, str) else "",
            provider=provider_for(ctx.settings),
        )
    return RedirectResponse(answer.url, status_code=303)


async def offline_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    payment_id = payment_id_of(request)
    async with get_ctx(request).db.unit_of_work() as session:
        payment = await service.get_offline_checkout(session, actor, payment_id)
    context = {"actor": actor, "payment": payment, "money": money, "csrf": csrf_token_for(request)}
    return render(request, "payments/offline.html", context)


async def offline_confirm(request: Request) -> Response:
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    payment_id = payment_id_of(request)
    async with get_ctx(request).db.unit_of_work() as session:
        await service.confirm_offline(session, actor, payment_id)
    return RedirectResponse(f"/wallet/receipts/{payment_id}", status_code=303)


async def offline_cancel(request: Request) -> Response:
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    payment_id = payment_id_of(request)
    async with get_ctx(request).db.unit_of_work() as session:
        await service.cancel_offline(session, actor, payment_id)
    return RedirectResponse("/wallet", status_code=303)


async def membership_cancel_form(request: Request) -> Response:
    """The wallet's "Stop renewing" button."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    async with get_ctx(request).db.unit_of_work() as session:
        await service.cancel_membership(session, actor)
    return RedirectResponse("/wallet", status_code=303)


routes: list[BaseRoute] = [
    Route("/wallet", wallet_page, methods=["GET"], name="wallet_page"),
    Route("/wallet/buy", buy_form, methods=["POST"], name="wallet_buy"),
    Route(
        "/wallet/membership/cancel",
        membership_cancel_form,
        methods=["POST"],
        name="wallet_membership_cancel",
    ),
    Route("/wallet/receipts/{payment_id}", receipt_page, methods=["GET"], name="wallet_receipt"),
    Route("/payments/offline/{payment_id}", offline_page, methods=["GET"], name="offline_page"),
    Route(
        "/payments/offline/{payment_id}/confirm",
        offline_confirm,
        methods=["POST"],
        name="offline_confirm",
    ),
    Route(
        "/payments/offline/{payment_id}/cancel",
        offline_cancel,
        methods=["POST"],
        name="offline_cancel",
    ),
]
