"""The interop client's own contract (flags, result, exit codes) against scripted peers.

The hub's y-websocket endpoint is tested with this client elsewhere; these tests make sure that a
passing or failing run of the client means what README.md says it means. The peers here are
scripted single-connection fakes, not room servers: no fan-out between clients.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from pycrdt import (
    Awareness,
    Decoder,
    Doc,
    Text,
    YMessageType,
    create_awareness_message,
    create_sync_message,
    handle_sync_message,
)
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from tests.helpers import eventually, free_port
from tests.interop.yclient import YCLIENT, node_binary, run_cli, run_yclient


@pytest.fixture(autouse=True)
def _node_present() -> None:
    node_binary()


@dataclass
class ScriptedPeer:
    """Answers sync like a y-websocket server, is itself an awareness peer named "bot", records
    what the client sends."""

    text: str = ""
    close_with: tuple[int, str] | None = None
    reject_with: HTTPStatus | None = None
    doc: Doc[Text] = field(default_factory=Doc)
    paths: list[str] = field(default_factory=list)
    headers: list[Headers] = field(default_factory=list)
    # (client id, clock, state) of every entry of every awareness message the client sent
    awareness_entries: list[tuple[int, int, Any]] = field(default_factory=list)
    awareness: Awareness = field(init=False)

    def __post_init__(self) -> None:
        self.doc["prompt"] = Text(self.text)
        self.awareness = Awareness(Doc())
        self.awareness.set_local_state({"user": {"name": "bot"}})

    @property
    def bot_id(self) -> int:
        return self.awareness.client_id

    @property
    def prompt(self) -> str:
        return str(self.doc.get("prompt", type=Text))

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        self.headers.append(request.headers)
        if self.reject_with is not None:
            return connection.respond(self.reject_with, "refused\n")
        return None

    async def handler(self, websocket: ServerConnection) -> None:
        if self.close_with is not None:
            await websocket.close(*self.close_with)
            return
        await websocket.send(create_sync_message(self.doc))
        bot_update = self.awareness.encode_awareness_update([self.bot_id])
        await websocket.send(create_awareness_message(bot_update))
        async for message in websocket:
            assert isinstance(message, bytes)
            if message[0] == YMessageType.SYNC:
                reply = handle_sync_message(message[1:], self.doc)
                if reply is not None:
                    await websocket.send(reply)
            elif message[0] == YMessageType.AWARENESS:
                payload = Decoder(message[1:]).read_message()
                assert payload is not None
                self._record_awareness(payload)
                self.awareness.apply_awareness_update(payload, "client")

    def _record_awareness(self, payload: bytes) -> None:
        decoder = Decoder(payload)
        for _ in range(decoder.read_var_uint()):
            client_id, clock = decoder.read_var_uint(), decoder.read_var_uint()
            self.awareness_entries.append((client_id, clock, json.loads(decoder.read_var_string())))

    def client_states(self) -> list[dict[str, Any]]:
        """Awareness states currently held for clients other than the bot."""
        return [s for cid, s in self.awareness.states.items() if cid != self.bot_id and s]


@pytest.fixture
async def peer(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ScriptedPeer, str]]:
    """A running ScriptedPeer and its server URL (``ws://127.0.0.1:PORT/yjs``)."""
    scripted = ScriptedPeer(**getattr(request, "param", {}))
    port = free_port()
    async with serve(scripted.handler, "127.0.0.1", port, process_request=scripted.process_request):
        yield scripted, f"ws://127.0.0.1:{port}/yjs"


async def test_edit_reaches_server_and_url_carries_room_and_params(
    peer: tuple[ScriptedPeer, str],
) -> None:
    scripted, url = peer
    result = await run_yclient(
        url,
        "room-1",
        token="tok en/1",
        params={"role": "editor"},
        name="alice",
        insert="一只猫 🐈",
        expect_peers=["bot"],
        origin="http://hub.test",
        headers={"Cookie": "hub_session=abc"},
    )
    assert (result.ok, result.returncode, result.unmet) == (True, 0, [])
    assert result.synced
    assert result.prompt == "一只猫 🐈"
    assert result.peer_names == ["bot"]
    assert scripted.paths == ["/yjs/room-1?role=editor&token=tok%20en%2F1"]
    assert scripted.headers[0]["Origin"] == "http://hub.test"
    assert scripted.headers[0]["Cookie"] == "hub_session=abc"
    # The edit is flushed before the process exits, and the client left awareness on the way out.
    await eventually(lambda: scripted.prompt == "一只猫 🐈", message="edit on the server")
    await eventually(lambda: scripted.client_states() == [], message="awareness removed on exit")


@pytest.mark.parametrize("peer", [{"text": "hello world"}], indirect=True)
async def test_delete_and_insert_at_position_in_one_edit(peer: tuple[ScriptedPeer, str]) -> None:
    scripted, url = peer
    result = await run_yclient(
        url, "r", at=5, delete=6, insert=", 世界", expect="hello, 世界", linger_ms=50
    )
    assert result.ok
    assert result.prompt == "hello, 世界"
    await eventually(lambda: scripted.prompt == "hello, 世界", message="edit on the server")


async def test_awareness_state_is_name_merged_with_state_flag(
    peer: tuple[ScriptedPeer, str],
) -> None:
    scripted, url = peer
    result = await run_yclient(
        url,
        "r",
        name="alice",
        state={"cursor": {"anchor": 1}, "user": {"color": "#f00"}},
        expect_peers=["bot"],
    )
    assert result.ok
    own = [entry["state"] for entry in result.awareness if entry["self"]]
    expected = {"cursor": {"anchor": 1}, "user": {"color": "#f00", "name": "alice"}}
    assert own == [expected]
    await eventually(
        lambda: (result.client_id, 1, expected) in scripted.awareness_entries,
        message="state on the server",
    )


async def test_stock_client_echoes_remote_awareness_back(peer: tuple[ScriptedPeer, str]) -> None:
    """Pins a y-websocket trait the rooms must handle: a client re-sends every awareness entry
    it applies, other clients' included (same clock). So a socket does not own every client id
    it sends; only the ids its messages added to the room (as @y/websocket-server does)."""
    scripted, url = peer
    result = await run_yclient(url, "r", name="alice", expect_peers=["bot"])
    assert result.ok
    await eventually(
        lambda: (scripted.bot_id, 1, {"user": {"name": "bot"}}) in scripted.awareness_entries,
        message="the bot's own state echoed back by the client",
    )


@pytest.mark.parametrize("peer", [{"text": "abc"}], indirect=True)
async def test_edit_out_of_range_exits_2_and_changes_nothing(
    peer: tuple[ScriptedPeer, str],
) -> None:
    scripted, url = peer
    result = await run_yclient(url, "r", at=2, delete=5, insert="x")
    assert result.returncode == 2
    assert not result.ok
    assert result.edit_error is not None
    assert "out of range" in result.edit_error
    assert result.prompt == "abc"
    assert scripted.prompt == "abc"


@pytest.mark.parametrize("peer", [{"text": "abc"}], indirect=True)
async def test_unmet_expectation_times_out_with_exit_1(peer: tuple[ScriptedPeer, str]) -> None:
    _, url = peer
    result = await run_yclient(url, "r", expect="xyz", expect_peers=["nobody"], timeout=0.5)
    assert result.returncode == 1
    assert not result.ok
    assert result.synced
    assert result.unmet == ['text == "xyz"', 'peer "nobody"']


@pytest.mark.parametrize("peer", [{"reject_with": HTTPStatus.FORBIDDEN}], indirect=True)
async def test_refused_handshake_is_reported_with_its_status(
    peer: tuple[ScriptedPeer, str],
) -> None:
    _, url = peer
    expected = await run_yclient(url, "r", expect_reject=403)
    assert (expected.ok, expected.returncode, expected.synced) == (True, 0, False)
    assert expected.http_statuses == [403]

    unexpected = await run_yclient(url, "r", timeout=0.5)
    assert unexpected.returncode == 1
    assert 403 in unexpected.http_statuses
    assert unexpected.unmet == ["synced"]


@pytest.mark.parametrize("peer", [{"close_with": (4403, "forbidden")}], indirect=True)
async def test_permanent_close_code_ends_the_run_at_once(peer: tuple[ScriptedPeer, str]) -> None:
    _, url = peer
    expected = await run_yclient(url, "r", expect_close=4403)
    assert (expected.ok, expected.returncode) == (True, 0)
    assert expected.closes == [{"code": 4403, "reason": "forbidden"}]

    started = time.monotonic()
    gave_up = await run_yclient(url, "r", timeout=30)
    # y-websocket 3 never retries 4400-4499, so waiting out the timeout would be pointless.
    assert time.monotonic() - started < 10
    assert gave_up.returncode == 1
    assert gave_up.closed_for_good == {"code": 4403, "reason": "forbidden"}
    assert gave_up.unmet == ["synced"]


@pytest.mark.parametrize("peer", [{"close_with": (4508, "try later")}], indirect=True)
async def test_transient_close_code_is_retried(peer: tuple[ScriptedPeer, str]) -> None:
    scripted, url = peer
    result = await run_yclient(url, "r", timeout=1)
    assert result.returncode == 1
    assert result.closed_for_good is None
    assert len(result.closes) >= 2
    assert len(scripted.paths) == len(result.closes)


async def test_unreachable_server_times_out_unsynced() -> None:
    result = await run_yclient(f"ws://127.0.0.1:{free_port()}/yjs", "r", timeout=0.5)
    assert result.returncode == 1
    assert not result.synced
    assert result.closes
    assert all(close["code"] == 1006 for close in result.closes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--room", "r"], "--url"),
        (["--url", "http://x", "--room", "r"], "--url"),
        (["--url", "ws://x"], "--room"),
        (["--url", "ws://x", "--room", "r", "--bogus"], "bogus"),
        (["--url", "ws://x", "--room", "r", "--state", "[1]"], "--state"),
        (["--url", "ws://x", "--room", "r", "--state", "{"], "--state"),
        (["--url", "ws://x", "--room", "r", "--at", "-1"], "--at"),
        (["--url", "ws://x", "--room", "r", "--timeout", "soon"], "--timeout"),
        (["--url", "ws://x", "--room", "r", "--param", "novalue"], "--param"),
        (["--url", "ws://x", "--room", "r", "--header", "NoColon"], "--header"),
    ],
)
async def test_bad_usage_exits_2_with_a_message(args: list[str], message: str) -> None:
    code, out, err = await run_cli(*args)
    assert code == 2
    assert out == ""
    assert message in err.splitlines()[0]


async def test_version_names_the_bundled_packages() -> None:
    code, out, _ = await run_cli("--version")
    assert code == 0
    versions = json.loads(out)
    assert set(versions) == {"lib0", "ws", "y-protocols", "y-websocket", "yjs"}
    assert YCLIENT.read_text(encoding="utf-8").count("Yjs was already imported") == 1
