"""Interop: the stock JavaScript stack (yjs + y-websocket WebsocketProvider + y-protocols
awareness, bundled in tests/interop/yclient.cjs) against our room server."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from rooms import close_codes
from rooms.hooks import AuthenticatePayload, ConnectPayload, Extension, Reject
from rooms.types import Role
from tests.helpers import eventually
from tests.interop.yclient import node_binary, run_yclient
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, YClient, room_id


@pytest.fixture(autouse=True)
def _node_present() -> None:
    node_binary()  # skips loudly without node (fails under CI=true)


class TokenRoles(Extension):
    async def on_authenticate(self, payload: AuthenticatePayload) -> None:
        if payload.token:
            payload.connection.authenticate(user_id=payload.token, role=Role(payload.token))


async def test_stock_clients_and_a_python_client_share_text_and_cursors(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    py = await cluster.yclient(s.yjs_url(rid), "py")
    py.insert(0, "你好")
    url = f"{s.base}/yjs"
    common = {"expect_contains": ["你好", "世界", "!!"], "timeout": 10, "linger_ms": 100}
    first, second = await asyncio.gather(
        run_yclient(url, rid, name="n1", insert="世界", expect_peers=["n2", "py"], **common),
        run_yclient(url, rid, name="n2", insert="!!", at=0, expect_peers=["n1", "py"], **common),
    )
    assert first.ok, (first.unmet, first.stderr)
    assert second.ok, (second.unmet, second.stderr)
    assert first.prompt == second.prompt
    await py.wait_text(first.prompt)


async def test_stock_client_sees_a_leaving_peer_vanish(cluster: Cluster) -> None:
    s = await cluster.server()
    rid = room_id()
    leaver = await cluster.yclient(s.yjs_url(rid), "leaver")

    async def leave_soon() -> None:
        await eventually(lambda: len(s.server.local_connections(rid)) == 2, timeout=10)
        await asyncio.sleep(0.2)  # the watcher must see the leaver before it goes
        await leaver.close()  # no null announced by the client: the server must do it

    watcher, _ = await asyncio.gather(
        run_yclient(f"{s.base}/yjs", rid, name="w", expect_peers_gone=["leaver"], timeout=10),
        leave_soon(),
    )
    assert watcher.ok, (watcher.unmet, watcher.stderr)


async def test_stock_viewer_edits_are_dropped_and_bad_origins_refused(cluster: Cluster) -> None:
    config = dataclasses.replace(FAST, allowed_origins=frozenset({"https://hub.example"}))
    s = await cluster.server(config=config, extensions=[TokenRoles()])
    rid = room_id()
    editor = await cluster.yclient(s.yjs_url(rid, "token=editor"), "ed")
    viewer = await run_yclient(
        f"{s.base}/yjs", rid, token="viewer", insert="nope", expect_contains=["nope"], timeout=10
    )
    assert viewer.ok
    # The viewer's socket is gone, so the server has read (and dropped) its update.
    await eventually(lambda: len(s.server.local_connections(rid)) == 1, message="viewer gone")
    assert editor.text == ""
    assert str(s.server.runtime.rooms[rid].doc["prompt"]) == ""
    refused = await run_yclient(
        f"{s.base}/yjs", rid, origin="https://evil.example", expect_reject=403, timeout=10
    )
    assert refused.ok
    assert 403 in refused.http_statuses
    kicked_soon = asyncio.create_task(
        run_yclient(
            f"{s.base}/yjs", rid, token="editor", expect_close=close_codes.KICKED, timeout=10
        )
    )
    await eventually(lambda: len(s.server.local_connections(rid)) == 2, timeout=10)
    await s.server.kick(rid, user_id="editor")
    kicked = await kicked_soon
    assert kicked.ok
    assert close_codes.KICKED in kicked.close_codes


async def test_stock_clients_echo_does_not_resurrect_a_leaving_peer(cluster: Cluster) -> None:
    """A stock client echoes every awareness change back (same clock). Its echo of a peer's last
    state, arriving after that peer's socket closed, must not bring the peer back as a ghost."""
    s = await cluster.server(config=dataclasses.replace(FAST, awareness_timeout=30))
    rid = room_id()
    bob = YClient(s.yjs_url(rid), name="bob")
    cluster.clients.append(bob)

    async def bob_moves_and_leaves() -> None:
        await eventually(
            lambda: s.server.runtime.rooms.get(rid) and s.server.runtime.rooms[rid].yjs, timeout=10
        )
        await bob.connect()
        await bob.wait_synced()
        await asyncio.sleep(0.2)  # the watcher has bob's first state (and has echoed it)
        # A move and the close back to back: the watcher's echo of the move is still in flight
        # when the server releases bob's state.
        await bob.set_awareness({"user": {"name": "bob"}, "cursor": 1})
        await bob.close()

    watcher, _ = await asyncio.gather(
        run_yclient(
            f"{s.base}/yjs", rid, name="w", expect_peers_gone=["bob"], linger_ms=600, timeout=10
        ),
        bob_moves_and_leaves(),
    )
    assert watcher.ok, (watcher.unmet, watcher.stderr)
    assert watcher.peer_names == [], "bob came back as a ghost"
    assert s.server.runtime.rooms[rid].awareness.entries() == []


async def test_echoing_a_busy_room_does_not_exhaust_the_rate_limit(cluster: Cluster) -> None:
    """Each awareness frame a stock client receives comes back as one echo. In a room where
    others move their cursors, those echoes alone exceed a per-socket limit that every mover
    respects; they must not cost the quiet client its socket."""
    config = dataclasses.replace(FAST, messages_per_second=20, message_burst=20)
    s = await cluster.server(config=config)
    rid = room_id()
    movers = [await cluster.yclient(s.yjs_url(rid), f"m{n}") for n in range(2)]

    async def move_for(seconds: float) -> None:
        await eventually(lambda: len(s.server.local_connections(rid)) == 3, timeout=10)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            for n, mover in enumerate(movers):
                await mover.set_awareness({"user": {"name": f"m{n}"}, "cursor": mover.clock})
            await asyncio.sleep(1 / 15)  # 15 moves/s each: within the limit of 20

    watcher, _ = await asyncio.gather(
        run_yclient(
            f"{s.base}/yjs", rid, name="w", expect_peers=["m0", "m1"], linger_ms=3000, timeout=10
        ),
        move_for(3.5),
    )
    assert watcher.ok, (watcher.unmet, watcher.stderr)
    assert watcher.closes == []
    assert all(not mover.closed.is_set() for mover in movers)


class RefuseFirst(Extension):
    """Closes the first socket with ``code``, admits the next ones."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.refused = 0

    async def on_connect(self, payload: ConnectPayload) -> None:
        if not self.refused:
            self.refused += 1
            raise Reject(self.code)


@pytest.mark.parametrize(
    "code", [close_codes.SLOW_CONSUMER, close_codes.RATE_LIMITED, close_codes.GOING_AWAY]
)
async def test_stock_client_reconnects_after_a_transient_close(cluster: Cluster, code: int) -> None:
    """A slow consumer, a brief flood or a restart must not stop a stock client for good: it
    reconnects (with backoff) and resyncs."""
    s = await cluster.server(extensions=[RefuseFirst(code)])
    result = await run_yclient(f"{s.base}/yjs", room_id(), timeout=10)
    assert result.ok, (result.unmet, result.stderr)
    assert result.close_codes == [code]
    assert result.closed_for_good is None
    assert not close_codes.stops_stock_clients(code)


async def test_stock_client_stops_after_a_permanent_close(cluster: Cluster) -> None:
    s = await cluster.server(extensions=[RefuseFirst(close_codes.KICKED)])
    result = await run_yclient(f"{s.base}/yjs", room_id(), timeout=10)
    assert result.returncode == 1
    assert result.closed_for_good == {"code": close_codes.KICKED, "reason": "kicked"}
    assert close_codes.stops_stock_clients(close_codes.KICKED)
