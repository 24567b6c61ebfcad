"""y-websocket framing and the JSON event-stream messages, decoded strictly.

Binary frames (y-protocols, lib0 encoding): a varuint message type, then a type-specific body.

    [0 sync][0 step1][varbytes state vector]
    [0 sync][1 step2][varbytes update]
    [0 sync][2 update][varbytes update]
    [1 awareness][varbytes awareness update]
    [2 auth][0 permission denied][varstring reason]
    [3 query awareness]

Awareness update: ``varuint n`` then n times ``varuint client_id, varuint clock, varstring
json-state`` (``"null"`` = the client left).

Every decoder here refuses what a stock client would never send (truncated varuints, lengths past
the end of the frame, unknown message types, trailing bytes) with :class:`ProtocolError`, so one
bad frame costs its sender the socket and nothing else. pycrdt's own ``Encoder.write_var_string``
writes the character count instead of the UTF-8 byte length (wrong for any non-ASCII text, such as
Chinese prompts), so strings are encoded here by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from rooms import close_codes, jsontext

# lib0 decodes varuints into JS numbers: anything above 2**53 - 1 is not representable there.
MAX_VAR_UINT = 2**53 - 1
_MAX_VAR_UINT_BYTES = 8


class ProtocolError(ValueError):
    """A frame that does not follow the y-websocket protocol (close code 1002)."""

    close_code = close_codes.PROTOCOL_ERROR


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


@dataclass(frozen=True, slots=True)
class SyncMessage:
    sync_type: SyncType
    payload: bytes  # state vector (step1) or Yjs update (step2 / update)


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    payload: bytes  # an awareness update, see decode_awareness


@dataclass(frozen=True, slots=True)
class AuthMessage:
    reason: str


@dataclass(frozen=True, slots=True)
class QueryAwarenessMessage:
    pass


Message = SyncMessage | AwarenessMessage | AuthMessage | QueryAwarenessMessage


# --- lib0 primitives ------------------------------------------------------------------------


def write_var_uint(value: int) -> bytes:
    if value < 0 or value > MAX_VAR_UINT:
        raise ValueError(f"varuint out of range: {value}")
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def write_var_bytes(data: bytes) -> bytes:
    return write_var_uint(len(data)) + data


def write_var_string(text: str) -> bytes:
    # Length prefix is the UTF-8 byte count (lib0 writeVarString), not len(text).
    return write_var_bytes(text.encode("utf-8"))


def read_var_uint(data: bytes, pos: int) -> tuple[int, int]:
    """Read one varuint at ``pos``; returns ``(value, next_pos)``."""
    value = 0
    shift = 0
    for _ in range(_MAX_VAR_UINT_BYTES):
        if pos >= len(data):
            raise ProtocolError("truncated varuint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > MAX_VAR_UINT:
                raise ProtocolError("varuint out of range")
            return value, pos
        shift += 7
    raise ProtocolError("varuint too long")


def read_var_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_var_uint(data, pos)
    end = pos + length
    if end > len(data):
        raise ProtocolError("length runs past the end of the message")
    return data[pos:end], end


def read_var_string(data: bytes, pos: int) -> tuple[str, int]:
    raw, pos = read_var_bytes(data, pos)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError as exc:
        raise ProtocolError("string is not valid UTF-8") from exc


def _expect_end(data: bytes, pos: int) -> None:
    if pos != len(data):
        raise ProtocolError(f"{len(data) - pos} trailing byte(s) after the message")


# --- frames -----------------------------------------------------------------------------------


def decode_message(frame: bytes) -> Message:
    """Decode one binary frame; raises :class:`ProtocolError` on anything malformed."""
    if not frame:
        raise ProtocolError("empty message")
    kind, pos = read_var_uint(frame, 0)
    if kind == MessageType.SYNC:
        sub, pos = read_var_uint(frame, pos)
        if sub not in (SyncType.STEP1, SyncType.STEP2, SyncType.UPDATE):
            raise ProtocolError(f"unknown sync message type {sub}")
        payload, pos = read_var_bytes(frame, pos)
        _expect_end(frame, pos)
        return SyncMessage(SyncType(sub), payload)
    if kind == MessageType.AWARENESS:
        payload, pos = read_var_bytes(frame, pos)
        _expect_end(frame, pos)
        return AwarenessMessage(payload)
    if kind == MessageType.AUTH:
        sub, pos = read_var_uint(frame, pos)
        if sub != 0:
            raise ProtocolError(f"unknown auth message type {sub}")
        reason, pos = read_var_string(frame, pos)
        _expect_end(frame, pos)
        return AuthMessage(reason)
    if kind == MessageType.QUERY_AWARENESS:
        _expect_end(frame, pos)
        return QueryAwarenessMessage()
    raise ProtocolError(f"unknown message type {kind}")


def encode_sync_step1(state_vector: bytes) -> bytes:
    return bytes((MessageType.SYNC, SyncType.STEP1)) + write_var_bytes(state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    return bytes((MessageType.SYNC, SyncType.STEP2)) + write_var_bytes(update)


def encode_update(update: bytes) -> bytes:
    return bytes((MessageType.SYNC, SyncType.UPDATE)) + write_var_bytes(update)


def encode_awareness(awareness_update: bytes) -> bytes:
    return bytes((MessageType.AWARENESS,)) + write_var_bytes(awareness_update)


def encode_query_awareness() -> bytes:
    return bytes((MessageType.QUERY_AWARENESS,))


def encode_auth_denied(reason: str) -> bytes:
    return bytes((MessageType.AUTH, 0)) + write_var_string(reason)


# First byte of every awareness frame (a one-byte varuint).
AWARENESS_PREFIX = bytes((MessageType.AWARENESS,))

# An awareness message with zero entries: a no-op for clients, but it resets their 30 s
# silence timer, so idle rooms are not reconnected every half minute.
KEEPALIVE = encode_awareness(write_var_uint(0))

# Yjs encodes "no structs, no deletions" as two zero varuints.
EMPTY_UPDATE = b"\x00\x00"


# --- awareness --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: str | None  # the JSON text of the state as sent; None means "null" (client left)

    def state_value(self) -> Any:
        return None if self.state is None else json.loads(self.state)


def decode_awareness(payload: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update strictly: every state must be a JSON object or ``null``."""
    count, pos = read_var_uint(payload, 0)
    if count > len(payload):  # each entry takes at least three bytes: cheap sanity bound
        raise ProtocolError("awareness entry count exceeds the message size")
    entries: list[AwarenessEntry] = []
    for _ in range(count):
        client_id, pos = read_var_uint(payload, pos)
        clock, pos = read_var_uint(payload, pos)
        text, pos = read_var_string(payload, pos)
        try:
            value = jsontext.loads(text)
        except jsontext.JSONTooDeep as exc:
            raise ProtocolError("awareness state is nested too deeply") from exc
        except ValueError as exc:
            raise ProtocolError("awareness state is not valid JSON") from exc
        if value is None:
            entries.append(AwarenessEntry(client_id, clock, None))
        elif isinstance(value, dict):
            entries.append(AwarenessEntry(client_id, clock, text))
        else:
            raise ProtocolError("awareness state must be an object or null")
    _expect_end(payload, pos)
    return entries


def encode_awareness_entries(entries: Iterable[AwarenessEntry]) -> bytes:
    items = list(entries)
    out = [write_var_uint(len(items))]
    for entry in items:
        out.append(write_var_uint(entry.client_id))
        out.append(write_var_uint(entry.clock))
        out.append(write_var_string("null" if entry.state is None else entry.state))
    return b"".join(out)


# --- JSON event stream ------------------------------------------------------------------------


class EventProtocolError(ValueError):
    """A client message on the event stream that is not acceptable.

    The server answers ``{"type": "error", "code": <code>, "message": <str>}`` and closes with
    ``close_code`` (1003 unless stated otherwise).
    """

    def __init__(
        self, code: str, message: str, close_code: int = close_codes.UNSUPPORTED_DATA
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


@dataclass(frozen=True, slots=True)
class ClientEvent:
    type: str
    data: Mapping[str, Any]


CLIENT_EVENT_TYPES = frozenset({"chat.send", "ping"})


def decode_client_event(text: str, *, max_chat_chars: int) -> ClientEvent:
    """Parse and validate one client → server event-stream message."""
    try:
        message = jsontext.loads(text)
    except jsontext.JSONTooDeep as exc:
        raise EventProtocolError("invalid_json", str(exc)) from exc
    except ValueError as exc:
        raise EventProtocolError("invalid_json", "message is not valid JSON") from exc
    if not isinstance(message, dict):
        raise EventProtocolError("invalid_message", "message must be a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise EventProtocolError("invalid_message", "message needs a string 'type'")
    if kind not in CLIENT_EVENT_TYPES:
        raise EventProtocolError("unknown_type", f"unknown message type {kind[:64]!r}")
    data = message.get("data", {})
    if not isinstance(data, dict):
        raise EventProtocolError("invalid_message", "'data' must be a JSON object")
    if kind == "chat.send":
        chat = data.get("text")
        if not isinstance(chat, str) or not chat.strip():
            raise EventProtocolError("invalid_message", "chat.send needs a non-empty 'text'")
        if len(chat) > max_chat_chars:
            raise EventProtocolError(
                "message_too_long", f"chat text is longer than {max_chat_chars} characters"
            )
        return ClientEvent(kind, {"text": chat})
    return ClientEvent(kind, {})


def encode_json(message: Mapping[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def error_message(code: str, message: str) -> str:
    return encode_json({"type": "error", "code": code, "message": message})


# The answer to a client ``ping``, and what an idle event socket receives as a keepalive.
PONG = encode_json({"type": "pong"})
