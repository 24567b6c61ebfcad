"""Test kit for rooms: a real uvicorn server per RoomServer and a y-websocket client on pycrdt.

The client speaks the wire protocol with pycrdt's documented helpers (sync step 1/2, updates) and
encodes awareness itself (pycrdt's awareness encoder miscounts non-ASCII lengths), so the server
is exercised through the same bytes a stock Yjs client sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import uvicorn
from pycrdt import Doc, Map, Text, TransactionEvent
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rooms import RoomConfig, RoomServer
from rooms.asgi import create_app
from rooms.bus import Bus, MemoryBus, MemoryHub
from rooms.hooks import Extension
from rooms.presence import MemoryPresence
from rooms.protocol import (
    AwarenessEntry,
    AwarenessMessage,
    SyncMessage,
    SyncType,
    decode_awareness,
    decode_message,
    encode_awareness,
    encode_awareness_entries,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
)
from rooms.room import delete_text, insert_text
from rooms.store import DocumentStore, MemoryStore
from rooms.types import PresenceLike
from tests.helpers import eventually
from tests.live import start_uvicorn

# Test timers: small enough to observe keepalives and flushes quickly.
FAST = RoomConfig(
    flush_interval=0.05,
    unload_delay=0.05,
    keepalive_interval=5.0,
    close_timeout=1.0,
    reconcile_interval=None,
)


@dataclass
class Served:
    server: RoomServer
    bus: Bus
    store: DocumentStore
    presence: PresenceLike
    port: int
    uvicorn: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def yjs_url(self, room: str, query: str = "") -> str:
        return f"{self.base}/yjs/{room}" + (f"?{query}" if query else "")

    def events_url(self, room: str, query: str = "") -> str:
        return f"{self.base}/rooms/{room}/events" + (f"?{query}" if query else "")

    async def close(self) -> None:
        self.uvicorn.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 5)
        await self.server.stop()
        await self.bus.stop()


async def serve(
    *,
    hub: MemoryHub | None = None,
    bus: Bus | None = None,
    store: DocumentStore | None = None,
    presence: PresenceLike | None = None,
    config: RoomConfig = FAST,
    extensions: Sequence[Extension] = (),
) -> Served:
    """Start a RoomServer behind a real uvicorn (websockets-sansio, no compression)."""
    bus = bus if bus is not None else MemoryBus(hub)
    store = store if store is not None else MemoryStore()
    presence = presence if presence is not None else MemoryPresence()
    await bus.start()
    server = RoomServer(bus, store, presence, extensions=extensions, config=config)
    await server.start()
    app = create_app(server, manage_server=False)
    uv_config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    uv, task = await start_uvicorn(uv_config, timeout=5)
    port = uv.servers[0].sockets[0].getsockname()[1]
    return Served(server, bus, store, presence, port, uv, task)


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("compression", None)
    kwargs.setdefault("proxy", None)
    kwargs.setdefault("open_timeout", 5)
    kwargs.setdefault("close_timeout", 2)
    return await connect(url, **kwargs)


async def open_stalled_ws(served: Served, room: str) -> ClientConnection:
    """A y-websocket that joins ``room`` and then stops reading (see :func:`open_stalled`)."""
    return await open_stalled(served.yjs_url(room), served.port)


async def open_stalled(url: str, port: int, **kwargs: Any) -> ClientConnection:
    """A y-websocket on ``url`` (served on 127.0.0.1:``port``) that joins and then stops
    reading: a tiny receive buffer, and websockets stops reading the transport once one frame
    is queued."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    slow = await open_ws(url, max_queue=1, sock=sock, **kwargs)
    await slow.send(encode_sync_step1(b"\x00"))
    return slow


def room_id() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"


@dataclass
class YClient:
    """A y-websocket client: a pycrdt Doc kept in sync over one socket."""

    url: str
    name: str = "anon"
    doc: Doc[Any] = field(default_factory=Doc)
    ws: ClientConnection | None = None
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    awareness: dict[int, tuple[int, Any]] = field(default_factory=dict)  # id -> (clock, state)
    received: list[bytes] = field(default_factory=list)
    close_code: int | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    clock: int = 0
    local_state: dict[str, Any] | None = None  # our own awareness state, as last sent
    send_awareness_on_open: bool = True
    _reader: asyncio.Task[None] | None = None
    _remote: bool = False

    def __post_init__(self) -> None:
        self.doc["prompt"] = Text()
        self.doc["negative"] = Text()
        self.doc["params"] = Map()
        self.doc.observe(self._on_change)

    @property
    def client_id(self) -> int:
        return self.doc.client_id

    @property
    def prompt(self) -> Text:
        return cast(Text, self.doc.get("prompt", type=Text))

    @property
    def params(self) -> Map[Any]:
        return cast(Map[Any], self.doc.get("params", type=Map))

    @property
    def text(self) -> str:
        return str(self.prompt)

    def insert(self, index: int, value: str) -> None:
        """Insert at a character index (pycrdt indexes Text in UTF-8 bytes)."""
        insert_text(self.prompt, index, value)

    def delete(self, index: int, length: int) -> None:
        delete_text(self.prompt, index, length)

    async def connect(self, **kwargs: Any) -> YClient:
        self.synced.clear()
        self.closed.clear()
        self.close_code = None
        self.ws = await open_ws(self.url, **kwargs)
        await self.ws.send(encode_sync_step1(self.doc.get_state()))
        if self.send_awareness_on_open:
            await self.set_awareness({"user": {"name": self.name}}, bump=self.clock == 0)
        self._reader = asyncio.create_task(self._read())
        return self

    async def set_awareness(self, state: dict[str, Any] | None, *, bump: bool = True) -> None:
        if bump:
            self.clock += 1
        self.local_state = state
        text = None if state is None else json.dumps(state, ensure_ascii=False)
        entry = AwarenessEntry(self.client_id, self.clock, text)
        await self.send(encode_awareness(encode_awareness_entries([entry])))

    def _on_change(self, event: TransactionEvent) -> None:
        if self._remote or self.ws is None or self.closed.is_set():
            return
        update = event.update
        # Local edit: send it (fire and forget; ordering is kept by the single connection).
        task = asyncio.ensure_future(self.send(encode_update(update)))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def _apply(self, update: bytes) -> None:
        self._remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._remote = False

    async def send(self, frame: bytes | str) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(frame)

    async def _read(self) -> None:
        assert self.ws is not None
        ws = self.ws
        try:
            async for frame in ws:
                assert isinstance(frame, bytes), frame
                self.received.append(frame)
                message = decode_message(frame)
                if isinstance(message, SyncMessage):
                    if message.sync_type is SyncType.STEP1:
                        await ws.send(encode_sync_step2(self.doc.get_update(message.payload)))
                    else:
                        self._apply(message.payload)
                        if message.sync_type is SyncType.STEP2:
                            self.synced.set()
                elif isinstance(message, AwarenessMessage):
                    for entry in decode_awareness(message.payload):
                        current = self.awareness.get(entry.client_id)
                        if entry.client_id == self.client_id:
                            await self._own_awareness(entry)
                            continue
                        if (
                            current is None
                            or entry.clock > current[0]
                            or (entry.clock == current[0] and entry.state is None)
                        ):
                            self.awareness[entry.client_id] = (entry.clock, entry.state_value())
        except ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code if ws.close_code is not None else 1006
            self.closed.set()

    async def _own_awareness(self, entry: AwarenessEntry) -> None:
        """What y-protocols does with a remote entry for our own id: a removal of our live
        state (same or newer clock) is answered with our state at the next clock."""
        if entry.state is None and self.local_state is not None and entry.clock >= self.clock:
            self.clock = entry.clock
            await self.set_awareness(self.local_state)
        elif entry.clock > self.clock:
            self.clock = entry.clock

    def peers(self) -> dict[int, Any]:
        """Awareness states of everyone else that are not null."""
        return {
            cid: state
            for cid, (_, state) in self.awareness.items()
            if state is not None and cid != self.client_id
        }

    def peer_names(self) -> set[str]:
        return {state["user"]["name"] for state in self.peers().values() if "user" in state}

    async def wait_synced(self, timeout: float = 5) -> None:
        await asyncio.wait_for(self.synced.wait(), timeout)

    async def wait_text(self, expected: str, timeout: float = 5) -> None:
        await eventually(lambda: self.text == expected, timeout, message=f"text == {expected!r}")

    async def wait_closed(self, timeout: float = 5) -> int:
        await asyncio.wait_for(self.closed.wait(), timeout)
        assert self.close_code is not None
        return self.close_code

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._reader, 3)


async def yclient(url: str, name: str = "anon", **kwargs: Any) -> YClient:
    client = YClient(url, name=name)
    await client.connect(**kwargs)
    await client.wait_synced()
    return client


class EventClient:
    """A JSON event-stream client that records everything it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> EventClient:
        return cls(await open_ws(url, **kwargs))

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                assert isinstance(frame, str)
                self.messages.append(json.loads(frame))
        except ConnectionClosed:
            pass
        finally:
            code = self.ws.close_code
            self.close_code = code if code is not None else 1006
            self.closed.set()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 5) -> list[dict[str, Any]]:
        await eventually(lambda: len(self.of_type(kind)) >= count, timeout, message=kind)
        return self.of_type(kind)

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        frame = json.dumps(message) if isinstance(message, dict) else message
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(frame)

    async def wait_closed(self, timeout: float = 5) -> int:
        await asyncio.wait_for(self.closed.wait(), timeout)
        assert self.close_code is not None
        return self.close_code

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self._reader, 3)
