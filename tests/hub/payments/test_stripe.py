"""Stripe: Checkout Sessions created at a local fake Stripe over HTTP, and webhooks with real
HMAC-SHA256 signatures over Stripe's payload shapes: forged, stale, replayed, malformed and
twice-delivered events, refunds with a shortfall, membership invoices and cancellation."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from hub.audit.models import AuditEntry
from hub.db import Database
from hub.payments.models import ProcessedEvent
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import assert_books_balance, bearer, ledger_rows, make_user
from tests.hub.payments import fake_stripe as stripe
from tests.hub.payments.fake_stripe import FakeStripe
from tests.hub.payments.helpers import Browser, balance, browser, checkout

WEBHOOK = "/api/v1/payments/webhooks/stripe"


async def deliver(
    http: httpx.AsyncClient, payload: bytes, *, header: str | None = None
) -> httpx.Response:
    signed = stripe.signature(payload) if header is None else header
    return await http.post(
        WEBHOOK,
        content=payload,
        headers={"stripe-signature": signed, "content-type": "application/json"},
    )


async def paid_pack(
    http: httpx.AsyncClient, fake: FakeStripe, who: Browser, item: str = "pack-500"
) -> tuple[str, str]:
    """A pack bought through Checkout and paid (the webhook delivered): (payment id, intent)."""
    started = await checkout(http, who, item)
    session_id = started["url"].rsplit("/", 1)[1]
    intent = fake.new_id("pi")
    obj = stripe.checkout_completed(session_id, started["payment_id"], intent=intent)
    answer = await deliver(http, stripe.event("checkout.session.completed", obj))
    assert answer.status_code == 200, answer.text
    return started["payment_id"], intent


async def events_recorded(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)


@BOTH_DATABASES
async def test_checkout_creates_a_session_at_stripe(
    stripe_client: httpx.AsyncClient, fake_stripe: FakeStripe
) -> None:
    ada = await browser(stripe_client, "ada")
    started = await checkout(stripe_client, ada, "pack-1200")
    assert started["url"].startswith(f"{fake_stripe.url}/c/pay/cs_test_")
    path, form = fake_stripe.requests[-1]
    assert path == "/v1/checkout/sessions"
    assert form["mode"] == "payment"
    assert form["client_reference_id"] == started["payment_id"]
    assert form["metadata[hub_user_id]"] == str(ada.user_id)
    assert form["line_items[0][price_data][unit_amount]"] == "999"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["success_url"] == f"http://testserver/wallet/receipts/{started['payment_id']}"
    member = await checkout(stripe_client, ada, "membership")
    _, form = fake_stripe.requests[-1]
    assert form["mode"] == "subscription"
    assert form["line_items[0][price_data][recurring][interval]"] == "month"
    assert form["subscription_data[metadata][hub_payment_id]"] == member["payment_id"]
    receipt = await stripe_client.get(
        f"/api/v1/payments/{started['payment_id']}", headers=ada.headers
    )
    assert receipt.json()["state"] == "pending"
    assert await balance(stripe_client, ada) == 100


@BOTH_DATABASES
async def test_a_delivered_twice_checkout_grants_its_credits_exactly_once(
    stripe_client: httpx.AsyncClient, fake_stripe: FakeStripe, db: Database
) -> None:
    ada = await browser(stripe_client, "ada")
    started = await checkout(stripe_client, ada, "pack-500")
    session_id = started["url"].rsplit("/", 1)[1]
    obj = stripe.checkout_completed(session_id, started["payment_id"], intent="pi_test_1")
    payload = stripe.event("checkout.session.completed", obj)
    first = await deliver(stripe_client, payload)
    again = await deliver(stripe_client, payload)
    assert first.json() == {"received": True, "duplicate": False}
    assert again.json() == {"received": True, "duplicate": True}
    # Stripe can also report the same session in a second event (a new id): still one grant.
    other = await deliver(stripe_client, stripe.event("checkout.session.completed", obj))
    assert other.json()["duplicate"] is False
    assert await balance(stripe_client, ada) == 600
    purchases = [row for row in await ledger_rows(db, ada.user_id) if row.kind == "purchase"]
    assert len(purchases) == 1
    await assert_books_balance(db, ada.user_id)


async def test_forged_stale_and_malformed_webhooks_are_400_and_change_nothing(
    stripe_client: httpx.AsyncClient, db: Database
) -> None:
    ada = await browser(stripe_client, "ada")
    started = await checkout(stripe_client, ada, "pack-500")
    obj = stripe.checkout_completed("cs_test_x", started["payment_id"], intent="pi_test_9")
    payload = stripe.event("checkout.session.completed", obj)
    now = int(time.time())
    wrong = [
        stripe.signature(payload, secret="whsec_someone_else"),  # forged
        stripe.signature(payload, at=now - 301),  # stale (replayed later)
        stripe.signature(payload, at=now + 400),  # from the future
        stripe.signature(payload).replace("v1=", "v0="),  # no v1 signature
        f"t={now}",
        "v1=" + "0" * 64,
        "t=abc,v1=" + "0" * 64,
        "",
    ]
    for header in wrong:
        answer = await deliver(stripe_client, payload, header=header)
        assert answer.status_code == 400, (header, answer.text)
        assert answer.json()["error"]["code"] == "bad_request"
    # The body is what was signed: a changed byte fails.
    tampered = payload.replace(b'"paid"', b'"paid" ')
    assert (
        await deliver(stripe_client, tampered, header=stripe.signature(payload))
    ).status_code == 400
    no_header = await stripe_client.post(WEBHOOK, content=payload)
    assert no_header.status_code == 400
    for body in [
        b"{not json",
        b"[]",
        b'{"id": "evt_1", "type": "x"}',
        b'{"id": 5, "type": "x", "data": {"object": {}}}',
    ]:
        answer = await deliver(stripe_client, body)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["code"] in ("bad_request", "invalid_json")
    assert await events_recorded(db) == 0
    assert await balance(stripe_client, ada) == 100
    # The same delivery signed 290 s ago is still within the tolerance.
    late = await deliver(stripe_client, payload, header=stripe.signature(payload, at=now - 290))
    assert late.status_code == 200, late.text
    assert await balance(stripe_client, ada) == 600


@BOTH_DATABASES
async def test_a_refunded_charge_takes_back_what_is_left_and_records_the_shortfall(
    stripe_client: httpx.AsyncClient, fake_stripe: FakeStripe, db: Database
) -> None:
    ada = await browser(stripe_client, "ada")
    payment_id, intent = await paid_pack(stripe_client, fake_stripe, ada)
    admin = await make_user(db, "boss", role="admin")
    spend = {"user_id": ada.user_id, "amount": -450, "memo": "spent on jobs"}
    adjusted = await stripe_client.post(
        "/api/v1/admin/credits/adjust", json=spend, headers=await bearer(db, admin)
    )
    assert adjusted.status_code == 200, adjusted.text
    assert await balance(stripe_client, ada) == 150
    charge = stripe.charge_refunded("ch_test_1", intent, amount=499, refunded=499)
    payload = stripe.event("charge.refunded", charge)
    for _ in range(2):
        assert (await deliver(stripe_client, payload)).status_code == 200
    # A second event about the same refund (new id) takes nothing more.
    assert (
        await deliver(stripe_client, stripe.event("charge.refunded", charge))
    ).status_code == 200
    assert await balance(stripe_client, ada) == 0
    receipt = (
        await stripe_client.get(f"/api/v1/payments/{payment_id}", headers=ada.headers)
    ).json()
    assert receipt["state"] == "refunded"
    assert (receipt["credits_reversed"], receipt["shortfall"]) == (150, 350)
    assert receipt["refunded_cents"] == 499
    await assert_books_balance(db, ada.user_id)


async def test_a_partial_refund_takes_back_its_share(
    stripe_client: httpx.AsyncClient, fake_stripe: FakeStripe
) -> None:
    ada = await browser(stripe_client, "ada")
    payment_id, intent = await paid_pack(stripe_client, fake_stripe, ada, "pack-1200")
    half = stripe.charge_refunded("ch_test_2", intent, amount=999, refunded=500)
    await deliver(stripe_client, stripe.event("charge.refunded", half))
    receipt = (
        await stripe_client.get(f"/api/v1/payments/{payment_id}", headers=ada.headers)
    ).json()
    assert receipt["state"] == "paid"
    assert receipt["credits_reversed"] == 1200 * 500 // 999
    full = stripe.charge_refunded("ch_test_2", intent, amount=999, refunded=999)
    await deliver(stripe_client, stripe.event("charge.refunded", full))
    receipt = (
        await stripe_client.get(f"/api/v1/payments/{payment_id}", headers=ada.headers)
    ).json()
    assert (receipt["state"], receipt["credits_reversed"]) == ("refunded", 1200)
    assert await balance(stripe_client, ada) == 100


@BOTH_DATABASES
async def test_admin_refund_is_audited_and_refunding_twice_changes_nothing(
    stripe_client: httpx.AsyncClient, fake_stripe: FakeStripe, db: Database
) -> None:
    ada = await browser(stripe_client, "ada")
    payment_id, intent = await paid_pack(stripe_client, fake_stripe, ada)
    admin = await make_user(db, "boss", role="admin")
    headers = await bearer(db, admin)
    path = f"/api/v1/admin/payments/{payment_id}/refund"
    refused = await stripe_client.post(path, json={"reason": "mine"}, headers=ada.headers)
    assert refused.status_code == 403
    for _ in range(2):
        answer = await stripe_client.post(path, json={"reason": "asked by mail"}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "refunded"
        assert answer.json()["credits_reversed"] == 500
    assert [p for p, _ in fake_stripe.requests].count("/v1/refunds") == 1
    assert fake_stripe.refunded == {intent}
    # Stripe then reports the refund: nothing more is taken.
    charge = stripe.charge_refunded("ch_test_3", intent, amount=499, refunded=499)
    assert (
        await deliver(stripe_client, stripe.event("charge.refunded", charge))
    ).status_code == 200
    assert await balance(stripe_client, ada) == 100
    async with db.unit_of_work() as session:
        stmt = select(AuditEntry).where(col(AuditEntry.action) == "payment.refund")
        audits = (await session.execute(stmt)).scalars().all()
    assert [(a.actor_id, a.target_id, a.reason) for a in audits] == [
        (admin.user_id, payment_id, "asked by mail")
    ]
    listed = await stripe_client.get("/api/v1/admin/payments", headers=headers)
    assert [p["payment_id"] for p in listed.json()["items"]] == [payment_id]
    assert (
        await stripe_client.get("/api/v1/admin/payments", headers=ada.headers)
    ).status_code == 403
    missing = await stripe_client.post(
        "/api/v1/admin/payments/0123abc/refund", json={"reason": "x"}, headers=headers
    )
    assert missing.status_code == 404
    pending = (await checkout(stripe_client, ada, "pack-500"))["payment_id"]
    conflict = await stripe_client.post(
        f"/api/v1/admin/payments/{pending}/refund", json={"reason": "x"}, headers=headers
    )
    assert conflict.status_code == 409


@BOTH_DATABASES
async def test_membership_invoices_grant_monthly_and_a_deleted_subscription_ends_it(
    stripe_client: httpx.AsyncClient, fake_stripe: FakeStripe, db: Database
) -> None:
    ada = await browser(stripe_client, "ada")
    started = await checkout(stripe_client, ada, "membership")
    session_id = started["url"].rsplit("/", 1)[1]
    sub = "sub_test_1"
    period_end = int(time.time()) + 30 * 86400
    first = stripe.invoice_paid(
        "in_test_1", sub, user_id=ada.user_id, payment_id=started["payment_id"], first=True,
        intent="pi_test_in1", period_end=period_end,
    )  # fmt: skip
    # The invoice may arrive before the session's completion; both name the same payment.
    assert (await deliver(stripe_client, stripe.event("invoice.paid", first))).status_code == 200
    completed = stripe.checkout_completed(
        session_id, started["payment_id"], mode="subscription", subscription=sub, amount=999
    )
    assert (
        await deliver(stripe_client, stripe.event("checkout.session.completed", completed))
    ).status_code == 200
    assert await balance(stripe_client, ada) == 100 + 1500
    member = (await stripe_client.get("/api/v1/me/membership", headers=ada.headers)).json()
    assert member["member"] is True
    assert member["provider"] == "stripe"
    renewal = stripe.invoice_paid(
        "in_test_2",
        sub,
        user_id=ada.user_id,
        intent="pi_test_in2",
        period_end=period_end + 86400 * 30,
    )
    payload = stripe.event("invoice.paid", renewal)
    await deliver(stripe_client, payload)
    await deliver(stripe_client, payload)
    assert await balance(stripe_client, ada) == 100 + 3000
    history = (await stripe_client.get("/api/v1/payments", headers=ada.headers)).json()["items"]
    assert sorted(p["state"] for p in history) == ["paid", "paid"]
    canceled = await stripe_client.post("/api/v1/me/membership/cancel", headers=ada.headers)
    assert canceled.json()["cancel_at_period_end"] is True
    assert fake_stripe.requests[-1] == (
        f"/v1/subscriptions/{sub}",
        {"cancel_at_period_end": "true"},
    )
    deleted = stripe.event("customer.subscription.deleted", stripe.subscription_deleted(sub))
    assert (await deliver(stripe_client, deleted)).status_code == 200
    member = (await stripe_client.get("/api/v1/me/membership", headers=ada.headers)).json()
    assert (member["member"], member["state"]) == (False, "canceled")
    await assert_books_balance(db, ada.user_id)
