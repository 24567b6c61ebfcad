"""Payloads that rooms exchange over the bus (between processes serving the same room).

Document channel ``{prefix}{room}``, first byte = kind:

    1 UPDATE     <Yjs update>                       an applied change (effective delta)
    2 AWARENESS  <awareness update>                 accepted awareness entries
    3 RESYNC     <want_reply byte><varbytes state vector><varbytes update>
    4 CONTROL    <UTF-8 JSON object>                kick / role / close, applied everywhere

Only updates travel, never requests that must be answered with another request (Hocuspocus
#335 loops): a RESYNC with ``want_reply`` is answered with one RESYNC *without* it, which nobody
answers. Events channel ``{prefix}{room}:events`` carries ``{"event": <envelope>, "persist": b}``.
Channel ``{prefix}:connections`` carries CONTROL messages for every room (``close_matching``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from rooms.protocol import ProtocolError, read_var_bytes, write_var_bytes
from rooms.types import Event


class BusKind(IntEnum):
    UPDATE = 1
    AWARENESS = 2
    RESYNC = 3
    CONTROL = 4


@dataclass(frozen=True, slots=True)
class BusUpdate:
    update: bytes


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


BusPayload = BusUpdate | BusAwareness | BusResync | BusControl


def encode_update(update: bytes) -> bytes:
    return bytes((BusKind.UPDATE,)) + update


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
        return BusUpdate(body)
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
        {"event": event.envelope(), "persist": event.persist},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def decode_event(payload: bytes) -> Event:
    """Raises ``ValueError``/``KeyError``/``TypeError`` on anything that is not an event."""
    message = json.loads(payload)
    if not isinstance(message, dict) or not isinstance(message.get("event"), dict):
        raise TypeError("not an event message")
    return Event.from_envelope(message["event"], persist=bool(message.get("persist", True)))
