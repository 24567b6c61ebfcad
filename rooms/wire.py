"""Payloads that rooms exchange over the bus (between processes serving the same room).

Document channel ``{prefix}{room}``, first byte = kind:

    1 UPDATE     <varstring writer><varuint n><varstring author><Yjs update>
                                                    an applied change (effective delta), the
                                                    ``n``-th record of that room ``writer``
    2 AWARENESS  <awareness update>                 accepted awareness entries
    3 RESYNC     <want_reply byte><varbytes state vector><varbytes update>
    4 CONTROL    <UTF-8 JSON object>                kick / role / close, applied everywhere
    5 STORED     <varstring writer><varuint n>      that writer stored its records up to ``n``

Only updates travel, never requests that must be answered with another request (Hocuspocus
#335 loops): a RESYNC with ``want_reply`` is answered with one RESYNC *without* it, which nobody
answers. UPDATE and STORED keep edits durable when a process dies: a receiver keeps what an
UPDATE brought until its writer says it is STORED, and stores it itself if that does not come in
time (docs/decisions/0003-bus-reconnect-and-resync.md, "Amendment").

Events channel ``{prefix}{room}:events`` carries ``{"event": <envelope>, "persist": b, "prev":
n}`` (``prev``: see :class:`rooms.types.Event`), or ``{"tip": n}``: "every stored event up to
``n`` was published", which a process that delivered less fills from the store.
Channel ``{prefix}:connections`` carries CONTROL messages for every room (``close_matching``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from rooms.protocol import (
    ProtocolError,
    read_var_bytes,
    read_var_string,
    read_var_uint,
    write_var_bytes,
    write_var_string,
    write_var_uint,
)
from rooms.types import Event


class BusKind(IntEnum):
    UPDATE = 1
    AWARENESS = 2
    RESYNC = 3
    CONTROL = 4
    STORED = 5


@dataclass(frozen=True, slots=True)
class BusUpdate:
    update: bytes
    writer: str = ""  # "" (unknown): no STORED will confirm it
    record: int = 0
    author: str | None = None


@dataclass(frozen=True, slots=True)
class BusAwareness:
    payload: bytes


@dataclass(frozen=True, slots=True)
class BusResync:
    state_vector: bytes
    update: bytes
    want_reply: bool


@dataclass(frozen=True, slots=True)
class BusControl:
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BusStored:
    writer: str
    record: int


BusPayload = BusUpdate | BusAwareness | BusResync | BusControl | BusStored


def encode_update(
    update: bytes, *, writer: str = "", record: int = 0, author: str | None = None
) -> bytes:
    return (
        bytes((BusKind.UPDATE,))
        + write_var_string(writer)
        + write_var_uint(record)
        + write_var_string(author or "")
        + update
    )


def encode_stored(writer: str, record: int) -> bytes:
    return bytes((BusKind.STORED,)) + write_var_string(writer) + write_var_uint(record)


def encode_awareness(awareness_update: bytes) -> bytes:
    return bytes((BusKind.AWARENESS,)) + awareness_update


def encode_resync(state_vector: bytes, update: bytes, *, want_reply: bool) -> bytes:
    return (
        bytes((BusKind.RESYNC, 1 if want_reply else 0))
        + write_var_bytes(state_vector)
        + write_var_bytes(update)
    )


def encode_control(data: dict[str, Any]) -> bytes:
    return bytes((BusKind.CONTROL,)) + json.dumps(data, separators=(",", ":")).encode()


def decode(payload: bytes) -> BusPayload:
    if not payload:
        raise ProtocolError("empty bus message")
    kind, body = payload[0], payload[1:]
    if kind == BusKind.UPDATE:
        writer, pos = read_var_string(body, 0)
        record, pos = read_var_uint(body, pos)
        author, pos = read_var_string(body, pos)
        return BusUpdate(body[pos:], writer, record, author or None)
    if kind == BusKind.STORED:
        writer, pos = read_var_string(body, 0)
        record, pos = read_var_uint(body, pos)
        if pos != len(body) or not writer:
            raise ProtocolError("bad stored message")
        return BusStored(writer, record)
    if kind == BusKind.AWARENESS:
        return BusAwareness(body)
    if kind == BusKind.RESYNC:
        if not body or body[0] not in (0, 1):
            raise ProtocolError("bad resync flag")
        state_vector, pos = read_var_bytes(body, 1)
        update, pos = read_var_bytes(body, pos)
        if pos != len(body):
            raise ProtocolError("trailing bytes in resync")
        return BusResync(state_vector, update, body[0] == 1)
    if kind == BusKind.CONTROL:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ProtocolError("control message is not JSON") from exc
        if not isinstance(data, dict):
            raise ProtocolError("control message must be an object")
        return BusControl(data)
    raise ProtocolError(f"unknown bus message kind {kind}")


def encode_event(event: Event) -> bytes:
    return json.dumps(
        {"event": event.envelope(), "persist": event.persist, "prev": event.prev},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def encode_tip(seq: int) -> bytes:
    return json.dumps({"tip": seq}, separators=(",", ":")).encode()


def decode_event(payload: bytes) -> Event | int:
    """An event, or the seq of a ``tip``. Raises ``ValueError``/``KeyError``/``TypeError`` on
    anything else."""
    message = json.loads(payload)
    if not isinstance(message, dict):
        raise TypeError("not an event message")
    if "tip" in message:
        tip = message["tip"]
        if not isinstance(tip, int) or isinstance(tip, bool) or tip < 0:
            raise TypeError("bad tip")
        return tip
    if not isinstance(message.get("event"), dict):
        raise TypeError("not an event message")
    prev = message.get("prev")
    if prev is not None and (not isinstance(prev, int) or isinstance(prev, bool) or prev < 0):
        raise TypeError("bad prev")
    event = Event.from_envelope(message["event"], persist=bool(message.get("persist", True)))
    return dataclasses.replace(event, prev=prev)
