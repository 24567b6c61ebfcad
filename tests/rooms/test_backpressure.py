"""A socket that does not read is closed with 4508 (slow consumer) instead of growing memory."""

from __future__ import annotations

import dataclasses

from pycrdt import Text
from websockets.exceptions import ConnectionClosed

from rooms import close_codes
from tests.helpers import eventually
from tests.rooms.conftest import Cluster
from tests.rooms.ykit import FAST, open_stalled_ws, room_id


async def test_slow_consumer_is_closed_and_the_room_carries_on(cluster: Cluster) -> None:
    config = dataclasses.replace(
        FAST, outbound_queue=32, close_timeout=5, message_burst=10_000, messages_per_second=10_000
    )
    s = await cluster.server(config=config)
    rid = room_id()
    writer = await cluster.yclient(s.yjs_url(rid), "writer")
    reader = await cluster.yclient(s.yjs_url(rid), "reader")
    slow = await open_stalled_ws(s, rid)
    await eventually(lambda: len(s.server.local_connections(rid)) == 3, message="slow joined")
    slow_id = s.server.local_connections(rid)[2].connection_id

    def slow_present() -> bool:
        return slow_id in {c.connection_id for c in s.server.local_connections(rid)}

    room_text = s.server.runtime.rooms[rid].doc.get("prompt", type=Text)
    for n in range(2000):
        # Replace the whole prompt: 32 kB per update while the document stays small.
        writer.prompt.clear()
        writer.prompt.insert(0, f"{n:06d}" + "x" * 32_000)
        if n % 10 == 9:  # pace the writer on the server, so the loop ends soon after the drop
            await eventually(lambda: str(room_text) == writer.text, message="server caught up")
            if not slow_present():
                break
    await eventually(lambda: not slow_present(), timeout=10, message="slow consumer dropped")
    # Once it reads again it gets its backlog and then the 4508 close frame.
    try:
        while True:
            await slow.recv()
    except ConnectionClosed:
        pass
    assert slow.close_code == close_codes.SLOW_CONSUMER
    # Everyone else is fine and in sync.
    await eventually(lambda: reader.text == writer.text, timeout=10, message="reader in sync")
    assert not reader.closed.is_set()
    assert not writer.closed.is_set()
