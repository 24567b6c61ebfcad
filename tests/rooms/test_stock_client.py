"""Interop: the stock JavaScript stack (yjs + y-websocket WebsocketProvider + y-protocols
awareness, bundled in tests/interop/yclient.cjs) against our room server."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from rooms import close_codes
from rooms.hooks import AuthenticatePayload, Extension
from rooms.types import Role
from tests.helpers import eventually
from tests.interop.yclient import node_binary, run_yclient
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, room_id


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
    assert str(s.server._rooms[rid].doc["prompt"]) == ""
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
