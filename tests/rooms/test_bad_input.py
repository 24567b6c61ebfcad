"""Every kind of bad input closes only its sender, with the documented code; the room, the other
members and the store carry on untouched."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pycrdt import Doc, Text
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from rooms import close_codes
from rooms.protocol import (
    encode_awareness,
    encode_sync_step1,
    encode_update,
    write_var_uint,
)
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, open_ws, room_id

CONFIG = dataclasses.replace(FAST, max_message_bytes=4096, messages_per_second=5, message_burst=10)


def _valid_update() -> bytes:
    doc: Doc[Text] = Doc()
    doc["prompt"] = text = Text()
    text += "a long enough sentence for truncation"
    return doc.get_update()


async def close_code_after(ws: ClientConnection, frames: list[bytes | str]) -> int:
    try:
        for frame in frames:
            await ws.send(frame)
        while True:
            await ws.recv()
    except ConnectionClosed:
        pass
    assert ws.close_code is not None, "the server must close with a code"
    return ws.close_code


async def stored_text(store: Any, rid: str) -> str:
    doc: Doc[Any] = Doc()
    for update in (await store.load(rid)).all_updates:
        doc.apply_update(update)  # raises if the store held garbage
    return str(doc.get("prompt", type=Text))


BAD_FRAMES: list[tuple[str, list[bytes | str], int]] = [
    ("malformed varuint", [b"\x80"], close_codes.PROTOCOL_ERROR),
    ("unknown message type", [b"\x09\x00"], close_codes.PROTOCOL_ERROR),
    ("truncated frame", [b"\x00\x02" + write_var_uint(50) + b"abc"], close_codes.PROTOCOL_ERROR),
    ("trailing garbage", [encode_update(_valid_update()) + b"!"], close_codes.PROTOCOL_ERROR),
    ("truncated update", [encode_update(_valid_update()[:-5])], close_codes.UNSUPPORTED_DATA),
    ("update failing to apply", [encode_update(b"\xff\xff\xff")], close_codes.UNSUPPORTED_DATA),
    ("invalid state vector", [encode_sync_step1(b"\xff\xff")], close_codes.UNSUPPORTED_DATA),
    ("awareness junk", [encode_awareness(b"\x01\x01\x01\x03abc")], close_codes.PROTOCOL_ERROR),
    ("oversize frame", [encode_update(b"\x00" * 5000)], close_codes.MESSAGE_TOO_BIG),
    ("text frame", ["hello"], close_codes.UNSUPPORTED_DATA),
    ("flood", [b"\x03"] * 60, close_codes.RATE_LIMITED),
]


@pytest.mark.parametrize(
    ("frames", "code"), [b[1:] for b in BAD_FRAMES], ids=[b[0] for b in BAD_FRAMES]
)
async def test_bad_frame_closes_only_the_offender(
    cluster: Cluster, frames: list[bytes | str], code: int
) -> None:
    s = await cluster.server(config=CONFIG)
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    b = await cluster.yclient(s.yjs_url(rid), "bob")
    a.insert(0, "好")
    await b.wait_text("好")

    offender = await open_ws(s.yjs_url(rid))
    assert await close_code_after(offender, frames) == code

    # The room and the other members keep working; the offender is gone from the room.
    b.insert(1, "的")
    await a.wait_text("好的")
    await eventually(lambda: len(s.server.local_connections(rid)) == 2, message="offender gone")
    await eventually(lambda: _stored_is(s.store, rid, "好的"), message="store intact")
    assert not a.closed.is_set()
    assert not b.closed.is_set()


async def _stored_is(store: Any, rid: str, expected: str) -> bool:
    return await stored_text(store, rid) == expected


async def test_a_failed_update_leaves_the_document_untouched(cluster: Cluster) -> None:
    s = await cluster.server(config=CONFIG)
    rid = room_id()
    a = await cluster.yclient(s.yjs_url(rid), "alice")
    a.insert(0, "intact")
    await eventually(lambda: _stored_is(s.store, rid, "intact"), message="stored")
    room = s.server.runtime.rooms[rid]
    before = room.doc.get_update()
    offender = await open_ws(s.yjs_url(rid))
    good_then_bad = [encode_update(_valid_update()[:-5])]
    assert await close_code_after(offender, list(good_then_bad)) == close_codes.UNSUPPORTED_DATA
    assert room.doc.get_update() == before


@pytest.mark.parametrize(
    ("frames", "code", "error"),
    [
        (["not json"], close_codes.UNSUPPORTED_DATA, "invalid_json"),
        (['{"type":"job.cancel"}'], close_codes.UNSUPPORTED_DATA, "unknown_type"),
        ([b"\x00\x01"], close_codes.UNSUPPORTED_DATA, "binary_frame"),
        (
            ['{"type":"chat.send","data":{"text":""}}'],
            close_codes.UNSUPPORTED_DATA,
            "invalid_message",
        ),
        (['{"type":"ping","pad":"' + "x" * 5000 + '"}'], close_codes.MESSAGE_TOO_BIG, None),
        (['{"type":"ping"}'] * 60, close_codes.RATE_LIMITED, None),
    ],
    ids=["invalid json", "unknown type", "binary frame", "empty chat", "oversize", "flood"],
)
async def test_bad_event_stream_input_closes_only_the_offender(
    cluster: Cluster, frames: list[bytes | str], code: int, error: str | None
) -> None:
    s = await cluster.server(config=CONFIG)
    rid = room_id()
    good = await cluster.events(s.events_url(rid))
    await good.wait_for("welcome")
    bad = await cluster.events(s.events_url(rid))
    await bad.wait_for("welcome")
    for frame in frames:
        await bad.send(frame)
    assert await bad.wait_closed() == code
    if error is not None:
        assert bad.of_type("error")[-1]["code"] == error
    await good.send({"type": "chat.send", "data": {"text": "still here"}})
    messages = await good.wait_for("chat.message")
    assert messages[-1]["data"]["text"] == "still here"
    assert not good.closed.is_set()


async def test_bad_since_gets_an_error_and_1003(cluster: Cluster) -> None:
    s = await cluster.server(config=CONFIG)
    bad = await cluster.events(s.events_url(room_id(), "since=-3"))
    assert await bad.wait_closed() == close_codes.UNSUPPORTED_DATA
    assert bad.of_type("error")[0]["code"] == "invalid_since"


@pytest.mark.parametrize("path", ["/yjs/bad%20slug", "/rooms/-x/events"])
async def test_invalid_room_id_is_4404(cluster: Cluster, path: str) -> None:
    s = await cluster.server(config=CONFIG)
    ws = await open_ws(s.base + path)
    assert await close_code_after(ws, []) == close_codes.NO_SUCH_ROOM
