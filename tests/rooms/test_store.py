"""MemoryStore: the reference behaviour every DocumentStore implementation must match."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text, merge_updates

from rooms.store import DocumentStore, MemoryStore, UpdateRecord


def _updates(*parts: str) -> list[bytes]:
    doc: Doc[Text] = Doc()
    doc["prompt"] = text = Text()
    out = []
    for part in parts:
        before = doc.get_state()
        text += part
        out.append(doc.get_update(before))
    return out


def _text(updates: list[bytes]) -> str:
    doc: Doc[Text] = Doc()
    doc["prompt"] = Text()
    for update in updates:
        doc.apply_update(update)
    return str(doc["prompt"])


async def test_memory_store_satisfies_the_protocol() -> None:
    assert isinstance(MemoryStore(), DocumentStore)
    loaded = await MemoryStore().load("nothing")
    assert loaded.is_empty
    assert loaded.all_updates == []


async def test_append_is_idempotent_per_writer_and_batch() -> None:
    store = MemoryStore()
    u1, u2 = _updates("a", "b")
    assert await store.append_updates("r", [UpdateRecord(u1, "alice")], writer="w1", batch=0)
    assert not await store.append_updates("r", [UpdateRecord(u1, "alice")], writer="w1", batch=0)
    assert await store.append_updates("r", [UpdateRecord(u2)], writer="w2", batch=0)
    loaded = await store.load("r")
    assert loaded.updates == (u1, u2)
    assert _text(loaded.all_updates) == "ab"


async def test_compaction_covers_exactly_its_base_and_keeps_history() -> None:
    store = MemoryStore()
    u1, u2, u3 = _updates("你", "好", "!")
    await store.append_updates(
        "r", [UpdateRecord(u1, "alice"), UpdateRecord(u2, "bob")], writer="w", batch=0
    )
    base = await store.load("r")
    # Appended after ``base`` was read: must survive the compaction.
    await store.append_updates("r", [UpdateRecord(u3, "carol")], writer="w", batch=1)
    snapshot = await store.compact("r", merge_updates(*base.all_updates), base=base)
    assert snapshot is not None
    assert snapshot.authors == frozenset({"alice", "bob"})
    assert snapshot.update_count == 2
    loaded = await store.load("r")
    assert loaded.snapshot == snapshot.state
    assert loaded.updates == (u3,)
    assert _text(loaded.all_updates) == "你好!"
    # A second compactor working from the stale base changes nothing.
    assert await store.compact("r", b"junk", base=base) is None
    assert _text((await store.load("r")).all_updates) == "你好!"
    again = await store.load("r")
    second = await store.compact("r", merge_updates(*again.all_updates), base=again)
    assert second is not None
    assert second.authors == frozenset({"carol"})
    assert [s.snapshot_id for s in await store.history("r")] == [1, 2]
    assert await store.history("other") == []


async def test_event_seqs_are_per_room_and_monotonic() -> None:
    store = MemoryStore()
    first = await store.append_event("a", "chat.message", {"text": "1"}, persist=True)
    ephemeral = await store.append_event("a", "member.joined", {}, persist=False)
    other = await store.append_event("b", "chat.message", {}, persist=True)
    third = await store.append_event("a", "chat.message", {"text": "3"}, persist=True)
    assert (first.seq, ephemeral.seq, third.seq, other.seq) == (1, 2, 3, 1)
    assert await store.last_seq("a") == 3
    # Non-persisted events take a seq but are never replayed.
    assert [e.seq for e in await store.events_since("a", 0, limit=10) or []] == [1, 3]
    assert await store.events_since("a", 3, limit=10) == []
    assert await store.events_since("a", 4, limit=10) is None  # from the future: resync
    assert await store.events_since("a", 0, limit=1) is None  # gap bigger than the limit


async def test_event_data_is_copied() -> None:
    store = MemoryStore()
    data = {"nested": {"k": 1}}
    event = await store.append_event("a", "x", data, persist=True)
    data["nested"]["k"] = 2
    assert event.data == {"nested": {"k": 1}}


async def test_events_since_refuses_a_trimmed_window() -> None:
    store = MemoryStore(event_window=3)
    for n in range(5):
        await store.append_event("a", "chat.message", {"n": n}, persist=True)
    assert await store.events_since("a", 1, limit=10) is None  # seqs 1-2 were trimmed
    assert [e.seq for e in await store.events_since("a", 2, limit=10) or []] == [3, 4, 5]


def test_event_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        MemoryStore(event_window=0)
