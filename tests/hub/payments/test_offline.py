"""The offline provider through HTTP: checkout, the confirm page, receipts, history, membership,
and the bad inputs (unknown item, someone else's payment, CSRF)."""

from __future__ import annotations

import httpx

from hub.credits import service as credits_service
from hub.db import Database, utcnow
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import assert_books_balance, ledger_rows
from tests.hub.payments.helpers import balance, browser, checkout, confirm_offline


async def test_catalogue_lists_the_packs_and_the_membership(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/v1/payments/catalogue")
    assert answer.status_code == 200
    body = answer.json()
    assert body["provider"] == "offline"
    assert [(i["item"], i["credits"], i["amount_cents"]) for i in body["items"]] == [
        ("pack-500", 500, 499),
        ("pack-1200", 1200, 999),
        ("pack-3000", 3000, 1999),
        ("membership", 1500, 999),
    ]
    assert body["membership"] == {
        "monthly_credits": 1500, "priority": 10, "jobs_running": 6, "jobs_queued": 300,
    }  # fmt: skip


@BOTH_DATABASES
async def test_offline_pack_is_granted_once_however_often_it_is_confirmed(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await browser(client, "ada")
    started = await checkout(client, ada, "pack-500")
    payment_id = started["payment_id"]
    assert started["url"] == f"/payments/offline/{payment_id}"
    page = await client.get(started["url"], headers={"cookie": f"hub_session={ada.cookie}"})
    assert page.status_code == 200
    assert f'action="/payments/offline/{payment_id}/confirm"' in page.text
    assert await balance(client, ada) == 100  # nothing before the confirmation
    for _ in range(3):
        confirmed = await confirm_offline(client, ada, payment_id)
        assert confirmed.status_code == 303
        assert confirmed.headers["location"] == f"/wallet/receipts/{payment_id}"
    assert await balance(client, ada) == 600
    purchases = [row for row in await ledger_rows(db, ada.user_id) if row.kind == "purchase"]
    assert [(row.amount, row.idempotency_key) for row in purchases] == [
        (500, f"purchase:payment:{payment_id}")
    ]
    await assert_books_balance(db, ada.user_id)
    receipt = await client.get(f"/api/v1/payments/{payment_id}", headers=ada.headers)
    assert receipt.json()["state"] == "paid"
    assert receipt.json()["paid_at"]
    page = await client.get(
        f"/wallet/receipts/{payment_id}", headers={"cookie": f"hub_session={ada.cookie}"}
    )
    assert page.status_code == 200
    assert payment_id in page.text


async def test_a_canceled_offline_checkout_grants_nothing(client: httpx.AsyncClient) -> None:
    ada = await browser(client, "ada")
    payment_id = (await checkout(client, ada, "pack-1200"))["payment_id"]
    canceled = await client.post(
        f"/payments/offline/{payment_id}/cancel",
        data=ada.form,
        headers={"cookie": f"hub_session={ada.cookie}"},
    )
    assert canceled.status_code == 303
    assert (await confirm_offline(client, ada, payment_id)).status_code == 409
    assert await balance(client, ada) == 100
    receipt = await client.get(f"/api/v1/payments/{payment_id}", headers=ada.headers)
    assert receipt.json()["state"] == "canceled"


BAD_CHECKOUTS = [
    ({"item": "pack-7"}, "item"),
    ({"item": "membership-gold"}, "item"),
    ({"item": 5}, "item"),
    ({}, "item"),
    ({"item": "pack-500", "qty": 2}, "qty"),
    ({"item": "Pack 500"}, "item"),
]


async def test_checkout_of_an_unknown_item_is_422(client: httpx.AsyncClient) -> None:
    ada = await browser(client, "ada")
    for body, field in BAD_CHECKOUTS:
        answer = await client.post("/api/v1/payments/checkout", json=body, headers=ada.headers)
        assert answer.status_code == 422, (body, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "validation_error"
        assert field in [blamed["field"] for blamed in error["details"]["fields"]]
    listed = await client.get("/api/v1/payments", headers=ada.headers)
    assert listed.json()["items"] == []


async def test_wallet_page_shows_balance_chart_shop_history_and_ledger(
    client: httpx.AsyncClient, db: Database
) -> None:
    ada = await browser(client, "ada")
    payment_id = (await checkout(client, ada, "pack-500"))["payment_id"]
    await confirm_offline(client, ada, payment_id)
    async with db.unit_of_work() as session:  # a job's charge: what the chart draws
        await credits_service.reserve_credits(session, user_id=ada.user_id, amount=40, job_id="j1")
        await credits_service.charge_reservation(session, job_id="j1")
    page = await client.get("/wallet", headers={"cookie": f"hub_session={ada.cookie}"})
    assert page.status_code == 200
    html = page.text
    assert '<span id="wallet-balance">560</span>' in html
    assert f'href="/wallet/receipts/{payment_id}"' in html
    assert html.count('<rect class="bar"') == 30
    assert f"{utcnow().date().isoformat()}: 40</title>" in html
    assert html.count('action="/wallet/buy"') == 4
    bought = await client.post(
        "/wallet/buy",
        data={**ada.form, "item": "pack-3000"},
        headers={"cookie": f"hub_session={ada.cookie}"},
    )
    assert bought.status_code == 303
    assert bought.headers["location"].startswith("/payments/offline/")
    unknown = await client.post(
        "/wallet/buy",
        data={**ada.form, "item": "pack-1"},
        headers={"cookie": f"hub_session={ada.cookie}"},
    )
    assert unknown.status_code == 422


@BOTH_DATABASES
async def test_someone_elses_payment_is_404_everywhere(client: httpx.AsyncClient) -> None:
    ada = await browser(client, "ada")
    bob = await browser(client, "bob")
    payment_id = (await checkout(client, ada, "pack-500"))["payment_id"]
    bob_cookie = {"cookie": f"hub_session={bob.cookie}"}
    assert (
        await client.get(f"/api/v1/payments/{payment_id}", headers=bob.headers)
    ).status_code == 404
    assert (
        await client.get(f"/wallet/receipts/{payment_id}", headers=bob_cookie)
    ).status_code == 404
    assert (
        await client.get(f"/payments/offline/{payment_id}", headers=bob_cookie)
    ).status_code == 404
    assert (await confirm_offline(client, bob, payment_id)).status_code == 404
    assert (await client.get("/api/v1/payments/nope!", headers=bob.headers)).status_code == 404
    assert await balance(client, ada) == 100
    assert await balance(client, bob) == 100


async def test_the_confirm_form_needs_the_csrf_token(client: httpx.AsyncClient) -> None:
    ada = await browser(client, "ada")
    payment_id = (await checkout(client, ada, "pack-500"))["payment_id"]
    forged = await client.post(
        f"/payments/offline/{payment_id}/confirm",
        data={"csrf_token": "forged"},
        headers={"cookie": f"hub_session={ada.cookie}"},
    )
    assert forged.status_code == 403
    assert await balance(client, ada) == 100


@BOTH_DATABASES
async def test_payment_history_pages_newest_first(client: httpx.AsyncClient) -> None:
    ada = await browser(client, "ada")
    made = [(await checkout(client, ada, "pack-500"))["payment_id"] for _ in range(3)]
    first = (await client.get("/api/v1/payments?limit=2", headers=ada.headers)).json()
    assert [p["payment_id"] for p in first["items"]] == made[:0:-1]
    rest = await client.get(
        "/api/v1/payments", params={"cursor": first["next_cursor"]}, headers=ada.headers
    )
    assert [p["payment_id"] for p in rest.json()["items"]] == made[:1]
    assert rest.json()["next_cursor"] is None
    bad = await client.get("/api/v1/payments?cursor=WyJ4Il0", headers=ada.headers)
    assert bad.status_code == 400


@BOTH_DATABASES
async def test_offline_membership_gives_credits_and_perks_until_canceled(
    client: httpx.AsyncClient,
) -> None:
    ada = await browser(client, "ada")
    before = (await client.get("/api/v1/me/membership", headers=ada.headers)).json()
    assert before["member"] is False
    assert before["state"] is None
    nothing = await client.post("/api/v1/me/membership/cancel", headers=ada.headers)
    assert nothing.status_code == 404
    payment_id = (await checkout(client, ada, "membership"))["payment_id"]
    assert (await confirm_offline(client, ada, payment_id)).status_code == 303
    assert await balance(client, ada) == 100 + 1500
    member = (await client.get("/api/v1/me/membership", headers=ada.headers)).json()
    assert member["member"] is True
    assert member["state"] == "active"
    assert member["cancel_at_period_end"] is False
    wallet = await client.get("/wallet", headers={"cookie": f"hub_session={ada.cookie}"})
    assert 'id="membership-status"' in wallet.text
    stop = await client.post(
        "/wallet/membership/cancel", data=ada.form, headers={"cookie": f"hub_session={ada.cookie}"}
    )
    assert stop.status_code == 303
    for _ in range(2):
        canceled = await client.post("/api/v1/me/membership/cancel", headers=ada.headers)
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["cancel_at_period_end"] is True
        assert canceled.json()["member"] is True  # until the paid month ends


async def test_payments_need_a_sign_in(client: httpx.AsyncClient) -> None:
    paths = [
        ("GET", "/api/v1/payments"),
        ("POST", "/api/v1/payments/checkout"),
        ("GET", "/api/v1/me/membership"),
        ("GET", "/api/v1/payments/abc"),
    ]
    for method, path in paths:
        answer = await client.request(method, path, json={"item": "pack-500"})
        assert answer.status_code == 401, path
    wallet = await client.get("/wallet")
    assert wallet.status_code == 303
    assert wallet.headers["location"] == "/login?next=/wallet"
