"""The y-websocket codec, the awareness codec, the event-stream parser and the bus payloads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc, Text, create_sync_message, create_update_message

from rooms import close_codes, jsontext, wire
from rooms.protocol import (
    KEEPALIVE,
    MAX_VAR_UINT,
    AuthMessage,
    AwarenessEntry,
    AwarenessMessage,
    EventProtocolError,
    ProtocolError,
    QueryAwarenessMessage,
    SyncMessage,
    SyncType,
    decode_awareness,
    decode_client_event,
    decode_message,
    encode_auth_denied,
    encode_awareness,
    encode_awareness_entries,
    encode_query_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
    error_message,
    read_var_bytes,
    read_var_string,
    read_var_uint,
    write_var_string,
    write_var_uint,
)
from rooms.types import Event, RequestInfo, utcnow


@given(st.integers(min_value=0, max_value=MAX_VAR_UINT))
def test_var_uint_round_trips(value: int) -> None:
    encoded = write_var_uint(value)
    assert read_var_uint(encoded + b"rest", 0) == (value, len(encoded))


@pytest.mark.parametrize("value", [-1, MAX_VAR_UINT + 1])
def test_write_var_uint_refuses_out_of_range(value: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        write_var_uint(value)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "truncated"),
        (b"\x80", "truncated"),
        (b"\xff\xff", "truncated"),
        (b"\xff" * 8 + b"\x01", "too long"),
        (b"\xff" * 7 + b"\x7f", "out of range"),  # 56 bits > 2**53 - 1
    ],
)
def test_read_var_uint_is_strict(data: bytes, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        read_var_uint(data, 0)


def test_var_string_uses_utf8_byte_length() -> None:
    # pycrdt's Encoder.write_var_string writes len(text) (2 here), not the UTF-8 byte length.
    encoded = write_var_string("你好")
    assert encoded == b"\x06" + "你好".encode()
    assert read_var_string(encoded, 0) == ("你好", 7)


def test_read_var_bytes_refuses_length_past_the_end() -> None:
    with pytest.raises(ProtocolError, match="past the end"):
        read_var_bytes(b"\x05abc", 0)


def test_read_var_string_refuses_invalid_utf8() -> None:
    with pytest.raises(ProtocolError, match="UTF-8"):
        read_var_string(b"\x02\xc3\x28", 0)


def test_sync_messages_match_pycrdt_encoding() -> None:
    doc: Doc[Text] = Doc()
    doc["prompt"] = text = Text()
    text += "猫 cat"
    state = doc.get_state()
    update = doc.get_update()
    assert encode_sync_step1(state) == create_sync_message(doc)
    assert encode_update(update) == create_update_message(update)
    assert decode_message(encode_sync_step1(state)) == SyncMessage(SyncType.STEP1, state)
    assert decode_message(encode_sync_step2(update)) == SyncMessage(SyncType.STEP2, update)
    assert decode_message(encode_update(update)) == SyncMessage(SyncType.UPDATE, update)


def test_other_message_types_decode() -> None:
    assert decode_message(encode_awareness(b"\x00")) == AwarenessMessage(b"\x00")
    assert decode_message(encode_query_awareness()) == QueryAwarenessMessage()
    assert decode_message(encode_auth_denied("没有权限")) == AuthMessage("没有权限")
    assert decode_message(KEEPALIVE) == AwarenessMessage(b"\x00")


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"", "empty"),
        (b"\x80", "truncated varuint"),  # malformed message-type varuint
        (b"\x07", "unknown message type 7"),
        (b"\x00\x05\x00", "unknown sync message type 5"),
        (b"\x00\x02\x05\x01\x02", "past the end"),  # truncated update payload
        (b"\x00\x02\x01\x00junk", "trailing"),
        (b"\x01\x02\x00", "past the end"),
        (b"\x02\x01\x00", "unknown auth message type"),
        (b"\x02\x00\x01a!", "trailing"),
        (b"\x03\x00", "trailing"),
    ],
)
def test_decode_message_refuses_malformed_frames(frame: bytes, error: str) -> None:
    with pytest.raises(ProtocolError, match=error) as info:
        decode_message(frame)
    assert info.value.close_code == close_codes.PROTOCOL_ERROR


def test_awareness_round_trip_with_chinese_state() -> None:
    entries = [
        AwarenessEntry(1, 3, json.dumps({"user": {"name": "小明"}}, ensure_ascii=False)),
        AwarenessEntry(2**32 + 5, 9, None),
    ]
    decoded = decode_awareness(encode_awareness_entries(entries))
    assert decoded == entries
    assert decoded[0].state_value() == {"user": {"name": "小明"}}
    assert decoded[1].state_value() is None


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"\x01\x01\x01\x03abc", "not valid JSON"),
        (b"\x01\x01\x01\x01" + b"5", "object or null"),
        (b"\x01\x01\x01\x04null" + b"x", "trailing"),
        (b"\x05\x01", "exceeds"),
        (b"\x02\x01\x01\x04null", "truncated"),
    ],
)
def test_decode_awareness_is_strict(payload: bytes, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        decode_awareness(payload)


def test_client_events_parse() -> None:
    assert decode_client_event('{"type":"ping"}', max_chat_chars=10).type == "ping"
    chat = decode_client_event('{"type":"chat.send","data":{"text":"你好"}}', max_chat_chars=10)
    assert (chat.type, dict(chat.data)) == ("chat.send", {"text": "你好"})


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "invalid_json"),
        ("[1]", "invalid_message"),
        ('{"data":{}}', "invalid_message"),
        ('{"type":"job.start"}', "unknown_type"),
        ('{"type":"ping","data":[]}', "invalid_message"),
        ('{"type":"chat.send","data":{"text":"   "}}', "invalid_message"),
        ('{"type":"chat.send","data":{"text":5}}', "invalid_message"),
        (json.dumps({"type": "chat.send", "data": {"text": "字" * 11}}), "message_too_long"),
    ],
)
def test_client_events_refuse_bad_input(text: str, code: str) -> None:
    with pytest.raises(EventProtocolError) as info:
        decode_client_event(text, max_chat_chars=10)
    assert info.value.code == code
    assert info.value.close_code == close_codes.UNSUPPORTED_DATA
    assert json.loads(error_message(info.value.code, info.value.message))["type"] == "error"


def test_bus_payloads_round_trip() -> None:
    assert wire.decode(wire.encode_update(b"\x01\x02")) == wire.BusUpdate(b"\x01\x02")
    assert wire.decode(wire.encode_awareness(b"\x00")) == wire.BusAwareness(b"\x00")
    resync = wire.encode_resync(b"\x00", b"\x00\x00", want_reply=True)
    assert wire.decode(resync) == wire.BusResync(b"\x00", b"\x00\x00", True)
    control = {"action": "kick", "user_id": "u1"}
    assert wire.decode(wire.encode_control(control)) == wire.BusControl(control)
    event = Event(room="r", seq=3, type="chat.message", data={"text": "嗨"}, ts=utcnow())
    assert wire.decode_event(wire.encode_event(event)) == event
    followed = Event(room="r", seq=9, type="job.succeeded", data={}, ts=utcnow(), prev=3)
    assert wire.decode_event(wire.encode_event(followed)) == followed
    assert wire.decode_event(wire.encode_tip(41)) == 41
    update = wire.encode_update(b"\x01", writer="p1:abc", record=7, author="小明")
    assert wire.decode(update) == wire.BusUpdate(b"\x01", "p1:abc", 7, "小明")
    assert wire.decode(wire.encode_stored("p1:abc", 7)) == wire.BusStored("p1:abc", 7)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x09",
        b"\x03",
        b"\x03\x02\x00\x00",
        b"\x03\x01\x00\x00x",
        b"\x04{",
        b"\x04[1]",
        b"\x01\x05ab",  # update: writer longer than the message
        b"\x05\x00\x01",  # stored: no writer
        b"\x05\x01a\x01x",  # stored: trailing bytes
    ],
)
def test_bus_decode_refuses_junk(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        wire.decode(payload)


@pytest.mark.parametrize(
    "payload",
    [b"[]", b'{"event": 1}', b'{"event": {"seq": 1}}', b'{"tip": -1}', b'{"tip": true}'],
)
def test_bus_event_decode_refuses_junk(payload: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        wire.decode_event(payload)


def test_event_from_envelope_checks_shape() -> None:
    envelope = {"type": "x", "seq": True, "ts": utcnow().isoformat(), "room": "r", "data": {}}
    with pytest.raises(TypeError):
        Event.from_envelope(envelope)


def test_request_token_from_query_or_bearer_header() -> None:
    assert RequestInfo(query={"token": "q"}).token == "q"
    assert RequestInfo(headers={"authorization": "Bearer abc"}).token == "abc"
    assert RequestInfo(headers={"authorization": "Basic abc"}).token is None
    assert RequestInfo().token is None
    assert RequestInfo(headers={"origin": "http://x"}).origin == "http://x"


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "\\"[[[", {"k": "}}}"}]', 2),
        ("[" * 70 + "]" * 70, 70),
    ],
)
def test_nesting_depth_ignores_brackets_in_strings(text: str, depth: int) -> None:
    assert jsontext.nesting_depth(text) == depth


def test_json_nested_past_the_limit_is_a_value_error_not_recursion() -> None:
    with pytest.raises(jsontext.JSONTooDeep):
        jsontext.loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested"):
        decode_client_event("[" * 1000 + "]" * 1000, max_chat_chars=10)
    assert jsontext.loads('["' + "[" * 100 + '"]') == ["[" * 100]
    with pytest.raises(UnicodeDecodeError):
        jsontext.loads(b"\xff")
