"""Property: random interleaved edits from several clients converge, and the persisted state is
exactly what the clients hold (a fresh server on the same store serves the same document)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map, Text

from rooms.store import MemoryStore
from tests.helpers import eventually
from tests.rooms.ykit import YClient, room_id, serve

TEXT = st.text(alphabet="ab 猫狗😀\n", min_size=1, max_size=4)
OP = st.tuples(
    st.integers(min_value=0, max_value=2),  # which client
    st.sampled_from(["insert", "delete", "param", "yield"]),
    st.floats(min_value=0, max_value=1),  # position as a fraction of the text
    TEXT,
)


async def scenario(ops: list[tuple[int, str, float, str]]) -> None:
    store = MemoryStore()
    served = await serve(store=store)
    rid = room_id()
    clients: list[YClient] = []
    try:
        for n in range(3):
            client = YClient(served.yjs_url(rid), name=f"c{n}")
            await client.connect()
            await client.wait_synced()
            clients.append(client)
        for who, kind, where, text in ops:
            client = clients[who]
            length = len(client.text)
            index = round(where * length)
            if kind == "insert":
                client.insert(index, text)
            elif kind == "delete" and length:
                client.delete(
                    min(index, length - 1), min(len(text), length - min(index, length - 1))
                )
            elif kind == "param":
                client.params["seed"] = index
            else:
                await asyncio.sleep(0)  # let some messages cross before the next edit

        def converged() -> bool:
            texts = {c.text for c in clients}
            params = {repr(c.params.to_py()) for c in clients}
            return len(texts) == 1 and len(params) == 1

        await eventually(converged, timeout=10, message="clients converge")
        expected_text = clients[0].text
        expected_params = clients[0].params.to_py() or {}
        room_doc = served.server.runtime.rooms[rid].doc
        assert str(room_doc.get("prompt", type=Text)) == expected_text

        async def persisted() -> bool:
            doc: Doc[Any] = Doc()
            for update in (await store.load(rid)).all_updates:
                doc.apply_update(update)
            text = str(doc.get("prompt", type=Text))
            params = doc.get("params", type=Map).to_py() or {}
            return text == expected_text and params == expected_params

        await eventually(persisted, timeout=5, message="persisted state equals the clients'")
    finally:
        for client in clients:
            await client.close()
        await served.close()

    # A fresh server on the same store serves exactly that document.
    again = await serve(store=store)
    try:
        fresh = YClient(again.yjs_url(rid), name="fresh")
        await fresh.connect()
        await fresh.wait_synced()
        await fresh.wait_text(expected_text)
        assert (fresh.params.to_py() or {}) == expected_params
        await fresh.close()
    finally:
        await again.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OP, min_size=1, max_size=25))
def test_random_interleaved_edits_converge_with_the_persisted_state(
    ops: list[tuple[int, str, float, str]],
) -> None:
    asyncio.run(scenario(ops))
