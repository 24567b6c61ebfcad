"""The live notification socket on one process: authenticated, Origin-checked, fed by the
user's stream, closed with 4401 when its credential ends (and not before)."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import InvalidStatus

from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.live_kit import (
    account,
    follow,
    http,
    open_live,
    sign_in,
    token_pair,
)
from tests.live import LiveServer

API = "/api/v1"
WITHIN = 1.0  # seconds from the API's answer to the socket's close


@BOTH_DATABASES
async def test_notices_and_reads_arrive_live(live_server: LiveServer) -> None:
    await account(live_server, "ada")
    await account(live_server, "bob")
    ada = await sign_in(live_server, "ada")
    bob = await sign_in(live_server, "bob")
    page = await ada.open()
    other = await bob.open()
    (hello,) = await page.wait_for("hello")
    assert hello["unread_count"] == 0
    await follow(bob, "ada")
    (message,) = await page.wait_for("notification")
    assert message["unread_count"] == 1
    notice = message["notification"]
    assert (notice["kind"], notice["url"], notice["actor"]["username"]) == (
        "follow",
        "/u/bob",
        "bob",
    )
    # Marking it read on another page (or device) tells this one.
    async with http(live_server) as api:
        answer = await api.post(
            f"{API}/notifications/{notice['notification_id']}/read", headers=ada.headers
        )
        assert answer.status_code == 200
    (read,) = await page.wait_for("read")
    assert read == {
        "type": "read",
        "notification_ids": [notice["notification_id"]],
        "unread_count": 0,
    }
    # A reconnecting page starts from the stored count.
    again = await ada.open()
    assert (await again.wait_for("hello"))[0]["unread_count"] == 0
    # Bob's socket heard nothing of Ada's.
    assert [m["type"] for m in other.messages] == ["hello"]
    for client in (page, other, again):
        await client.close()


async def test_a_token_in_the_query_works_and_a_bad_one_is_refused(
    live_server: LiveServer,
) -> None:
    await account(live_server, "ada")
    pair = await token_pair(live_server, "ada")
    good = await open_live(live_server, pair["access_token"])
    assert (await good.wait_for("hello"))[0]["unread_count"] == 0
    bad = await open_live(live_server, "hub_pat_not-a-token")
    assert await bad.wait_closed() == 4401
    anonymous = await open_live(live_server)
    assert await anonymous.wait_closed() == 4401
    for client in (good, bad, anonymous):
        await client.close()


async def test_a_foreign_origin_is_refused_before_the_handshake(live_server: LiveServer) -> None:
    await account(live_server, "ada")
    ada = await sign_in(live_server, "ada")
    headers = {"cookie": f"hub_session={ada.cookie}", "origin": "https://evil.example"}
    with pytest.raises(InvalidStatus) as refused:
        await open_live(live_server, additional_headers=headers)
    assert refused.value.response.status_code == 403


@BOTH_DATABASES
async def test_signing_out_closes_that_sessions_sockets_only(live_server: LiveServer) -> None:
    await account(live_server, "ada")
    laptop = await sign_in(live_server, "ada")
    phone = await sign_in(live_server, "ada")
    on_laptop = await laptop.open()
    on_phone = await phone.open()
    await on_laptop.wait_for("hello")
    await on_phone.wait_for("hello")
    async with http(live_server) as api:
        started = time.monotonic()
        answer = await api.post(f"{API}/auth/logout", headers=laptop.headers)
        assert answer.status_code == 204
    assert await on_laptop.wait_closed(timeout=WITHIN) == 4401
    assert time.monotonic() - started < WITHIN
    assert not on_phone.closed.is_set()
    # The ended session cannot open a new one either.
    reopened = await laptop.open()
    assert await reopened.wait_closed() == 4401
    for client in (on_phone, on_laptop, reopened):
        await client.close()


async def test_revoking_an_api_sign_in_closes_its_socket(live_server: LiveServer) -> None:
    await account(live_server, "ada")
    pair = await token_pair(live_server, "ada")
    socket = await open_live(live_server, pair["access_token"])
    await socket.wait_for("hello")
    async with http(live_server) as api:
        answer = await api.post(f"{API}/auth/revoke", json={"refresh_token": pair["refresh_token"]})
        assert answer.status_code == 200
    assert await socket.wait_closed(timeout=WITHIN) == 4401
    await socket.close()


def test_a_slow_reader_is_closed_not_buffered() -> None:
    from hub.notifications.component import MAX_PENDING, LiveStream

    stream = LiveStream(user_id=1, keys=frozenset({"user:1"}))
    for i in range(MAX_PENDING):
        stream.push(f"m{i}")
    assert stream.close_code is None
    stream.push("one too many")
    assert stream.close_code == 4508
    assert len(stream.pending) == MAX_PENDING


async def test_after_a_bus_outage_sockets_of_ended_credentials_close(
    live_server: LiveServer,
) -> None:
    from hub.accounts.sessions import end_session
    from rooms.bus import MemoryBus

    ctx = live_server.app.state.ctx
    await account(live_server, "ada")
    gone = await sign_in(live_server, "ada")
    kept = await sign_in(live_server, "ada")
    missed = await gone.open()
    stays = await kept.open()
    await missed.wait_for("hello")
    await stays.wait_for("hello")
    # The session ends while the close message is lost (as during a bus outage) ...
    async with ctx.db.unit_of_work() as session:
        assert await end_session(session, gone.cookie)
    assert not missed.closed.is_set()
    # ... and the recheck after the bus comes back closes its socket.
    assert isinstance(ctx.bus, MemoryBus)
    await ctx.bus.simulate_reconnect()
    assert await missed.wait_closed(timeout=WITHIN) == 4401
    assert not stays.closed.is_set()
    await stays.close()
    await missed.close()
