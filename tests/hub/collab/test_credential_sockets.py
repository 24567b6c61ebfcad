"""A room socket lives only as long as the credential that admitted it (docs/accounts.md,
"Sockets end with their credential").

Each test ends a credential through the HTTP API of a real uvicorn: the y-websocket and event
sockets opened with it close with 4401 (stock clients do not retry it) within a second, an edit
and a chat sent right after the API answered are neither applied nor stored, and sockets of
credentials that are still valid stay open. The last test does it across two processes on Redis.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.accounts.sessions import revoke_sessions
from hub.accounts.tokens import create_personal_token
from hub.accounts.users import actor_for, create_user, get_user
from hub.collab.component import get_rooms
from hub.collab.rooms import create_room
from hub.ratelimit import RateLimiter
from hub.settings import Settings
from rooms import close_codes
from rooms.bus import MemoryBus
from rooms.room import new_document, read_document
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.collab.conftest import TestUser, add_member, create_test_user
from tests.hub.collab.helpers import events_url, http, hub_ctx, yjs_url
from tests.live import LiveServer
from tests.rooms.ykit import EventClient, YClient

API = "/api/v1"
PASSWORD = "correct horse battery"
WITHIN = 1.0  # seconds from the API's answer to the close, on every process


@dataclass(frozen=True)
class Browser:
    """One browser session: its cookie and CSRF token."""

    live: LiveServer
    cookie: str
    csrf: str

    @property
    def socket_headers(self) -> dict[str, str]:
        return {"cookie": f"hub_session={self.cookie}", "origin": self.live.http_url}

    @property
    def api_headers(self) -> dict[str, str]:
        return {**self.socket_headers, "x-csrf-token": self.csrf}


@dataclass
class Sockets:
    """The two sockets a room page opens, with one credential."""

    label: str
    yjs: YClient
    events: EventClient

    async def write(self, marker: str) -> None:
        """An edit and a chat, sent at once (no waiting for anything)."""
        self.yjs.insert(0, marker)
        await self.events.send({"type": "chat.send", "data": {"text": marker}})

    def is_open(self) -> bool:
        return not self.yjs.closed.is_set() and not self.events.closed.is_set()

    async def close(self) -> None:
        await self.yjs.close()
        await self.events.close()


async def make_account(live: LiveServer, username: str, *, role: str = "user") -> TestUser:
    """An account with a password (for browser sign-ins) and one personal token."""
    async with hub_ctx(live).db.unit_of_work() as session:
        user = await create_user(
            session,
            email=f"{username}@example.test",
            username=username,
            password=PASSWORD,
            display_name=username.title(),
        )
        user.role = role
        _, secret = await create_personal_token(session, user, name="tests")
        assert user.user_id is not None
        return TestUser(user.user_id, user.username, user.display_name, secret)


async def sign_in(live: LiveServer, username: str) -> Browser:
    async with http(live) as api:
        response = await api.post(
            f"{API}/auth/login",
            json={"login": username, "password": PASSWORD},
            headers={"origin": live.http_url},
        )
    assert response.status_code == 200, response.text
    return Browser(live, response.cookies["hub_session"], response.json()["csrf_token"])


async def token_pair(live: LiveServer, username: str) -> dict[str, Any]:
    async with http(live) as api:
        response = await api.post(
            f"{API}/auth/token", json={"login": username, "password": PASSWORD}
        )
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


async def open_sockets(
    live: LiveServer,
    slug: str,
    label: str,
    *,
    browser: Browser | None = None,
    token: str | None = None,
) -> Sockets:
    query = f"?token={token}" if token else ""
    headers = browser.socket_headers if browser is not None else {}
    yjs = YClient(yjs_url(live, slug) + query, name=label)
    await yjs.connect(additional_headers=headers)
    await yjs.wait_synced()
    events = await EventClient.open(events_url(live, slug) + query, additional_headers=headers)
    await events.wait_for("welcome")
    return Sockets(label, yjs, events)


@dataclass
class Scene:
    """A room owned by Olivia (the witness, on a personal token) with Vera as an editor."""

    live: LiveServer
    slug: str
    owner: TestUser
    victim: TestUser
    witness: Sockets


async def scene(live: LiveServer, *, victim_role: str = "user") -> Scene:
    ctx = hub_ctx(live)
    owner = await create_test_user(ctx, "olivia", "Olivia")
    victim = await make_account(live, "vera", role=victim_role)
    async with ctx.db.unit_of_work() as session:
        user = await get_user(session, owner.user_id)
        assert user is not None
        room = await create_room(
            session,
            actor_for(user, auth="api_token"),
            limiter=RateLimiter(),  # seeding, not a request: no budget of the user's
            title="sockets",
        )
    async with http(live) as api:
        await add_member(api, owner, room.slug, victim, "editor")
    witness = await open_sockets(live, room.slug, "witness", token=owner.token)
    return Scene(live, room.slug, owner, victim, witness)


async def stored_text_and_chats(live: LiveServer, slug: str) -> tuple[str, list[str]]:
    store = get_rooms(hub_ctx(live)).store
    stored = await store.load(slug)
    doc = new_document()
    for update in stored.all_updates:
        doc.apply_update(update)
    events = await store.events_since(slug, 0, limit=500) or []
    chats = [str(e.data["text"]) for e in events if e.type == "chat.message"]
    return str(read_document(doc)["prompt"]), chats


async def assert_ended(scene: Scene, ended: list[Sockets], started: float, marker: str) -> None:
    """``ended`` close with 4401 within ``WITHIN`` of ``started``; what they sent right after the
    API answered (``marker``) is not applied, not stored and not seen by anyone."""
    for sockets in ended:
        for kind, client in (("yjs", sockets.yjs), ("events", sockets.events)):
            left = max(0.01, started + WITHIN - time.monotonic())
            try:
                code = await client.wait_closed(timeout=left)
            except TimeoutError:
                pytest.fail(f"{sockets.label} {kind} socket still open {WITHIN} s later")
            assert code == close_codes.UNAUTHENTICATED, (sockets.label, kind, code)
    # The witness writes after them; once its writes are stored, theirs would be too.
    witness = f"witness-{uuid.uuid4().hex[:6]}"
    await scene.witness.write(witness)

    async def witness_stored() -> bool:
        text, chats = await stored_text_and_chats(scene.live, scene.slug)
        return witness in text and witness in chats

    await eventually(witness_stored, timeout=5, message="witness edit and chat stored")
    text, chats = await stored_text_and_chats(scene.live, scene.slug)
    assert marker not in text
    assert marker not in chats
    assert marker not in scene.witness.yjs.text
    seen = [m["data"].get("text") for m in scene.witness.events.of_type("chat.message")]
    assert marker not in seen
    ctx = hub_ctx(scene.live)
    async with ctx.db.unit_of_work() as session:
        live_doc, where = await get_rooms(ctx).read_document(session, scene.slug)
    assert where == "live"
    assert marker not in live_doc["prompt"]


async def assert_still_open(scene: Scene, alive: list[Sockets]) -> None:
    """Sockets of credentials that are still valid keep working."""
    witness = scene.witness
    for sockets in alive:
        assert sockets.is_open(), sockets.label
        marker = f"alive-{sockets.label}-{uuid.uuid4().hex[:6]}"
        await sockets.write(marker)

        def arrived(marker: str = marker) -> bool:
            chats = [m["data"].get("text") for m in witness.events.of_type("chat.message")]
            return marker in witness.yjs.text and marker in chats

        await eventually(arrived, message=f"{marker} edit and chat reach the witness")


async def close_all(*groups: Sockets) -> None:
    for sockets in groups:
        await sockets.close()


@BOTH_DATABASES
async def test_logout_closes_the_sockets_of_that_session_only(live_server: LiveServer) -> None:
    s = await scene(live_server)
    first = await sign_in(live_server, "vera")
    second = await sign_in(live_server, "vera")
    a = await open_sockets(live_server, s.slug, "session-a", browser=first)
    b = await open_sockets(live_server, s.slug, "session-b", browser=second)
    pat = await open_sockets(live_server, s.slug, "pat", token=s.victim.token)

    async with http(live_server) as api:
        response = await api.post(f"{API}/auth/logout", headers=first.api_headers)
        started = time.monotonic()
        assert response.status_code == 204
        await a.write("after-logout")
    await assert_ended(s, [a], started, "after-logout")
    await assert_still_open(s, [b, pat])
    await close_all(a, b, pat, s.witness)


async def test_the_logout_page_closes_the_sockets_of_that_session(
    live_server: LiveServer,
) -> None:
    s = await scene(live_server)
    browser = await sign_in(live_server, "vera")
    a = await open_sockets(live_server, s.slug, "session", browser=browser)
    async with http(live_server) as api:
        response = await api.post(
            "/logout", data={"csrf_token": browser.csrf}, headers=browser.socket_headers
        )
        started = time.monotonic()
        assert response.status_code in (302, 303), response.text
        await a.write("after-page-logout")
    await assert_ended(s, [a], started, "after-page-logout")
    await close_all(a, s.witness)


@BOTH_DATABASES
async def test_revoking_a_refresh_token_closes_its_access_token_sockets(
    live_server: LiveServer,
) -> None:
    s = await scene(live_server)
    revoked_pair = await token_pair(live_server, "vera")
    other_pair = await token_pair(live_server, "vera")
    revoked = await open_sockets(live_server, s.slug, "family", token=revoked_pair["access_token"])
    other = await open_sockets(live_server, s.slug, "other", token=other_pair["access_token"])

    async with http(live_server) as api:
        response = await api.post(
            f"{API}/auth/revoke", json={"refresh_token": revoked_pair["refresh_token"]}
        )
        started = time.monotonic()
        assert response.json() == {"revoked": True}
        await revoked.write("after-revoke")
    await assert_ended(s, [revoked], started, "after-revoke")
    await assert_still_open(s, [other])
    await close_all(revoked, other, s.witness)


async def test_a_reused_refresh_token_closes_the_sockets_of_its_family(
    live_server: LiveServer,
) -> None:
    s = await scene(live_server)
    pair = await token_pair(live_server, "vera")
    sockets = await open_sockets(live_server, s.slug, "family", token=pair["access_token"])
    async with http(live_server) as api:
        body = {"refresh_token": pair["refresh_token"]}
        assert (await api.post(f"{API}/auth/refresh", json=body)).status_code == 200
        reused = await api.post(f"{API}/auth/refresh", json=body)
        started = time.monotonic()
        assert reused.json()["error"]["code"] == "token_reused"
        await sockets.write("after-reuse")
    await assert_ended(s, [sockets], started, "after-reuse")
    await close_all(sockets, s.witness)


@BOTH_DATABASES
async def test_revoking_a_personal_token_closes_its_sockets(live_server: LiveServer) -> None:
    s = await scene(live_server)
    browser = await sign_in(live_server, "vera")
    pat = await open_sockets(live_server, s.slug, "pat", token=s.victim.token)
    session = await open_sockets(live_server, s.slug, "session", browser=browser)
    async with http(live_server) as api:
        tokens = (await api.get(f"{API}/me/tokens", headers=browser.api_headers)).json()
        (token_id,) = [t["token_id"] for t in tokens["items"]]
        response = await api.delete(f"{API}/me/tokens/{token_id}", headers=browser.api_headers)
        started = time.monotonic()
        assert response.status_code == 204
        await pat.write("after-token-revoke")
    await assert_ended(s, [pat], started, "after-token-revoke")
    await assert_still_open(s, [session])
    await close_all(pat, session, s.witness)


@BOTH_DATABASES
async def test_a_password_change_closes_the_sockets_of_the_credentials_it_ends(
    live_server: LiveServer,
) -> None:
    s = await scene(live_server)
    changer = await sign_in(live_server, "vera")
    other = await sign_in(live_server, "vera")
    pair = await token_pair(live_server, "vera")
    kept = await open_sockets(live_server, s.slug, "changer", browser=changer)
    pat = await open_sockets(live_server, s.slug, "pat", token=s.victim.token)
    ended_session = await open_sockets(live_server, s.slug, "other-session", browser=other)
    ended_family = await open_sockets(live_server, s.slug, "family", token=pair["access_token"])

    async with http(live_server) as api:
        response = await api.post(
            f"{API}/me/password",
            json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
            headers=changer.api_headers,
        )
        started = time.monotonic()
        assert response.status_code == 204, response.text
        await ended_session.write("after-password")
        await ended_family.write("after-password")
    await assert_ended(s, [ended_session, ended_family], started, "after-password")
    # The session that changed the password and the personal token stay valid, so do their
    # sockets (docs/accounts.md).
    await assert_still_open(s, [kept, pat])
    await close_all(kept, pat, ended_session, ended_family, s.witness)


@BOTH_DATABASES
async def test_lowering_the_site_role_closes_every_socket_of_the_user(
    live_server: LiveServer,
) -> None:
    s = await scene(live_server, victim_role="moderator")
    admin = await make_account(live_server, "adam", role="admin")
    browser = await sign_in(live_server, "vera")
    session = await open_sockets(live_server, s.slug, "session", browser=browser)
    pat = await open_sockets(live_server, s.slug, "pat", token=s.victim.token)
    url = f"{API}/admin/users/{s.victim.user_id}/role"
    async with http(live_server) as api:
        raised = await api.patch(url, json={"role": "admin"}, headers=admin.headers)
        assert raised.status_code == 200, raised.text
        # A raise takes nothing away: the sockets stay (the next handshake gets the new role).
        await assert_still_open(s, [session, pat])
        lowered = await api.patch(url, json={"role": "user"}, headers=admin.headers)
        started = time.monotonic()
        assert lowered.status_code == 200, lowered.text
        await session.write("after-demotion")
        await pat.write("after-demotion")
    await assert_ended(s, [session, pat], started, "after-demotion")
    await close_all(session, pat, s.witness)


@pytest.mark.redis
@BOTH_DATABASES
async def test_logout_on_one_process_closes_the_sockets_on_the_other(
    pair: tuple[LiveServer, LiveServer],
) -> None:
    one, two = pair
    s = await scene(two)
    browser = await sign_in(one, "vera")
    # The same cookie works on both processes (one database, one secret key).
    there = await open_sockets(two, s.slug, "process-2", browser=Browser(two, *_creds(browser)))
    here = await open_sockets(one, s.slug, "process-1", browser=browser)
    async with http(one) as api:
        response = await api.post(f"{API}/auth/logout", headers=browser.api_headers)
        started = time.monotonic()
        assert response.status_code == 204
    await assert_ended(s, [there, here], started, "never-sent")
    await close_all(there, here, s.witness)


@pytest.mark.redis
@BOTH_DATABASES
async def test_set_role_from_the_shell_closes_the_sockets_on_every_process(
    pair: tuple[LiveServer, LiveServer], settings: Settings, tmp_path: Path
) -> None:
    one, two = pair
    s = await scene(two, victim_role="moderator")
    browser = await sign_in(one, "vera")
    here = await open_sockets(one, s.slug, "process-1", browser=browser)
    there = await open_sockets(two, s.slug, "process-2", token=s.victim.token)
    ctx = hub_ctx(one)
    # ``hub user set-role`` in its own process, configured like the servers (docs/accounts.md).
    env = {
        **os.environ,
        "DATABASE_URL": settings.effective_database_url,
        "HUB_DATA_DIR": str(tmp_path / "cli"),
        "REDIS_URL": ctx.settings.redis_url,
        "HUB_REDIS_KEY_PREFIX": ctx.settings.redis_key_prefix,
    }
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "user", "set-role", "vera", "user",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(cli.communicate(), timeout=30)
    started = time.monotonic()
    assert cli.returncode == 0, err.decode()
    assert "closed their open sockets on every web process" in out.decode()
    await here.write("after-shell-demotion")
    await there.write("after-shell-demotion")
    await assert_ended(s, [here, there], started, "after-shell-demotion")
    await close_all(here, there, s.witness)


def _creds(browser: Browser) -> tuple[str, str]:
    return browser.cookie, browser.csrf


@BOTH_DATABASES
async def test_sockets_that_missed_the_close_are_checked_again_after_a_bus_reconnect(
    live_server: LiveServer,
) -> None:
    s = await scene(live_server)
    browser = await sign_in(live_server, "vera")
    session_sockets = await open_sockets(live_server, s.slug, "session", browser=browser)
    pat = await open_sockets(live_server, s.slug, "pat", token=s.victim.token)
    ctx = hub_ctx(live_server)
    bus = ctx.bus
    assert isinstance(bus, MemoryBus)

    # The session ends while the close message cannot travel (nothing is told to the sockets).
    async with ctx.db.unit_of_work() as session:
        assert len(await revoke_sessions(session, s.victim.user_id)) == 1
    assert session_sockets.is_open()
    await bus.simulate_reconnect()
    started = time.monotonic()
    await assert_ended(s, [session_sockets], started, "never-sent")
    await assert_still_open(s, [pat])

    # A disabled account (an admin's action) ends every credential of the user the same way.
    async with ctx.db.unit_of_work() as session:
        user = await get_user(session, s.victim.user_id)
        assert user is not None
        user.is_active = False
    await bus.simulate_reconnect()
    await assert_ended(s, [pat], time.monotonic(), "never-sent")
    await close_all(session_sockets, pat, s.witness)
