"""What both connections of :class:`rooms.bus_redis.RedisBus` need: the bus frame, connection
options, opening and closing a connection under our own timeouts, and URLs safe to log.

Wire frame: ``0x01 | len(instance_id) | instance_id | payload``. Frames from this instance are
dropped (echoes); frames that do not parse are counted and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from rooms.stats import BusStats as BusStats  # re-exported: its old home

FRAME_VERSION = 1
_SECRET_QUERY_KEYS = frozenset({"password", "ssl_password", "username"})


def redact_url(url: str) -> str:
    """The URL with any user name, password (also ``?password=``) masked: safe for logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<unparseable redis url>"
    rest, qsep, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    if query:
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(
            f"{key}{eq}{'***' if key.lower() in _SECRET_QUERY_KEYS else value}"
            for key, eq, value in pairs
        )
    return f"{scheme}://{authority}{slash}{path}{qsep}{query}"


def encode_frame(header: bytes, payload: bytes) -> bytes:
    return header + payload


def frame_header(instance_id: str) -> bytes:
    raw = instance_id.encode("ascii")
    return bytes((FRAME_VERSION, len(raw))) + raw


def decode_frame(data: bytes) -> tuple[str, bytes] | None:
    """``(sender, payload)``, or ``None`` when ``data`` is not one of our frames."""
    if len(data) < 3 or data[0] != FRAME_VERSION:
        return None
    size = data[1]
    if size == 0 or len(data) < 2 + size:
        return None
    try:
        sender = data[2 : 2 + size].decode("ascii")
    except UnicodeDecodeError:
        return None
    return sender, data[2 + size :]


def describe(exc: BaseException) -> str:
    # redis-py messages name host:port only; the URL (with its password) never reaches them.
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def connection_options(url: str, connect_timeout: float) -> dict[str, Any]:
    options: dict[str, Any] = dict(parse_url(url))
    options.update(
        # We time every read and write ourselves; redis-py's own timeouts, retries and health
        # checks would fight the supervisor (a retry inside a read would reconnect a socket
        # the supervisor is about to replace).
        socket_timeout=None,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        retry_on_error=[],
        health_check_interval=0,
        decode_responses=False,  # payloads are bytes, never text
        protocol=2,  # pub/sub replies as plain arrays, identical for every server version
    )
    return options


def new_connection(options: dict[str, Any], role: str, instance_id: str) -> AbstractConnection:
    options = dict(options)
    connection_class: type[AbstractConnection] = options.pop("connection_class", Connection)
    options["client_name"] = f"hub-bus-{role}-{instance_id}"
    return connection_class(**options)


async def open_connection(conn: AbstractConnection, limit: float) -> None:
    # The whole handshake is timed, not only the TCP connect: behind a dead link AUTH or
    # CLIENT SETINFO would otherwise wait forever for a reply.
    async with asyncio.timeout(limit):
        await conn.connect()  # type: ignore[no-untyped-call]


async def close_quietly(conn: AbstractConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.disconnect(nowait=True)


async def write(conn: AbstractConnection, *args: Any) -> None:
    # redis-py reconnects a closed connection on write; a dead session must stay dead.
    if not conn.is_connected:
        raise ConnectionError("subscriber connection is closed")
    await conn.send_command(*args, check_health=False)
