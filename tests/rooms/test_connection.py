"""Connection (outbound queue, writer, close) against a scripted transport, and TokenBucket."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette

from rooms import RoomServer, close_codes
from rooms.asgi import create_app
from rooms.bus import MemoryBus
from rooms.connection import Connection, Frame, TokenBucket
from rooms.store import MemoryStore
from rooms.types import ConnectionContext, ConnectionKind
from tests.helpers import eventually
from tests.rooms.ykit import FAST


class ScriptedTransport:
    def __init__(self, *, fail_send: bool = False, fail_close: bool = False) -> None:
        self.sent: list[Frame] = []
        self.closed: list[tuple[int, str]] = []
        self.fail_send = fail_send
        self.fail_close = fail_close

    async def receive(self) -> Frame | None:
        await asyncio.sleep(3600)
        return None

    async def send_bytes(self, data: bytes) -> None:
        if self.fail_send:
            raise ConnectionResetError("peer gone")
        self.sent.append(data)

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def close(self, code: int, reason: str) -> None:
        if self.fail_close:
            raise RuntimeError("already closed")
        self.closed.append((code, reason))


def connection(transport: ScriptedTransport, queue_size: int = 4) -> Connection:
    ctx = ConnectionContext("c1", "room", ConnectionKind.YJS)
    return Connection(
        transport, ctx, queue_size=queue_size, close_timeout=1, limiter=TokenBucket(10, 10)
    )


async def test_close_drains_the_queue_first_and_is_idempotent() -> None:
    transport = ScriptedTransport()
    conn = connection(transport)
    conn.start()
    assert conn.send(b"a")
    assert conn.send('{"type":"error"}')
    conn.close(close_codes.UNSUPPORTED_DATA, "bad " * 100)
    conn.close(close_codes.KICKED)  # ignored: the first close wins
    assert not conn.send(b"late")
    await conn.finish()
    assert transport.sent == [b"a", '{"type":"error"}']
    assert transport.closed[0][0] == close_codes.UNSUPPORTED_DATA
    assert len(transport.closed[0][1].encode()) <= 123  # close reasons are capped
    assert transport.closed == transport.closed[:1]


async def test_a_send_to_a_vanished_peer_marks_the_connection_gone() -> None:
    gone: list[Connection] = []
    transport = ScriptedTransport(fail_send=True)
    ctx = ConnectionContext("c2", "room", ConnectionKind.YJS)
    conn = Connection(
        transport,
        ctx,
        queue_size=4,
        close_timeout=1,
        limiter=TokenBucket(10, 10),
        on_close=gone.append,
    )
    conn.start()
    conn.send(b"x")
    await eventually(lambda: conn.closing, message="gone")
    assert conn.close_code == close_codes.GOING_AWAY
    assert gone == [conn]
    await conn.finish()


async def test_close_failures_after_a_disconnect_are_swallowed() -> None:
    transport = ScriptedTransport(fail_close=True)
    conn = connection(transport)
    conn.start()
    conn.close(close_codes.NORMAL)
    await conn.finish()
    assert transport.closed == []


async def test_overflow_closes_as_slow_consumer_without_draining() -> None:
    transport = ScriptedTransport()
    conn = connection(transport, queue_size=2)  # writer not started: nothing drains
    assert conn.send(b"1")
    assert conn.send(b"2")
    assert not conn.send(b"3")
    assert conn.close_code == close_codes.SLOW_CONSUMER
    await conn.finish()
    assert transport.sent == []
    assert transport.closed[0][0] == close_codes.SLOW_CONSUMER


def test_token_bucket_allows_bursts_then_the_sustained_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back
    assert bucket.allow()
    assert not bucket.allow()
    now[0] = 100  # never more than the burst
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]


async def test_create_app_lifespan_starts_and_stops_the_server() -> None:
    bus = MemoryBus()
    await bus.start()
    server = RoomServer(bus, MemoryStore(), config=FAST)
    app = create_app(server)
    assert isinstance(app, Starlette)
    async with app.router.lifespan_context(app):
        assert server._started
        assert not server.runtime.stopping
    assert server.runtime.stopping
    await bus.stop()


def test_echo_credit_counts_frames_and_bytes_and_is_capped() -> None:
    ctx = ConnectionContext("c1", "room", ConnectionKind.YJS)
    conn = Connection(
        ScriptedTransport(),
        ctx,
        queue_size=3,
        close_timeout=1,
        limiter=TokenBucket(10, 10),
        echo_byte_cap=100,
    )
    assert not conn.may_echo(1)  # nothing sent, nothing to echo
    conn.grant_echo(b"x" * 40)
    assert conn.may_echo(40)
    assert not conn.may_echo(41)  # an echo is never bigger than what was sent
    conn.spend_echo(10)
    assert not conn.may_echo(1)  # one frame granted, one spent: no splitting into many
    for _ in range(10):
        conn.grant_echo(b"x" * 40)
    assert (conn.echo_frames, conn.echo_bytes) == (3, 100)  # one queue's worth, byte cap


class FlowControlledTransport(ScriptedTransport):
    """Writes wait while ``writable`` is clear, like uvicorn's transport under backpressure."""

    def __init__(self) -> None:
        super().__init__()
        self.writable = asyncio.Event()
        self.writable.set()

    async def send_bytes(self, data: bytes) -> None:
        await self.writable.wait()
        self.sent.append(data)


async def test_frames_keep_their_order_through_a_flow_controlled_transport() -> None:
    transport = FlowControlledTransport()
    conn = connection(transport, queue_size=8)
    conn.start()
    transport.writable.clear()  # the peer stopped reading: writes suspend
    for i in range(6):
        assert conn.send(b"%d" % i)  # queued, bounded
    await asyncio.sleep(0)
    assert transport.sent == []
    transport.writable.set()
    await eventually(lambda: len(transport.sent) == 6, message="all six written")
    assert transport.sent == [b"%d" % i for i in range(6)]
    await conn.finish()
