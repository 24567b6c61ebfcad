"""One contract for every DocumentStore: MemoryStore (the reference) and SqlStore on SQLite and
Postgres must behave the same. Two SqlStore objects on two engines stand in for two processes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update

from hub.collab.models import RoomEvent, RoomUpdate
from hub.collab.store import SqlStore
from hub.db import Database, utcnow
from hub.settings import Settings
from rooms.store import DocumentStore, MemoryStore, StoredDocument, UpdateRecord
from tests.conftest import _base_settings
from tests.databases import truncate_postgres

WINDOW = 5


@dataclass
class Backend:
    name: str
    store: DocumentStore
    # a second store on its own connections (another "process"); the memory store shares itself
    other: DocumentStore
    trim: Callable[[], Awaitable[None]]


async def _sql_backend(settings: Settings) -> AsyncIterator[Backend]:
    db1, db2 = Database(settings), Database(settings)
    store = SqlStore(db1)

    async def trim() -> None:
        await store.trim_events(window=WINDOW)

    try:
        yield Backend(db1.engine.dialect.name, store, SqlStore(db2), trim)
    finally:
        await db1.dispose()
        await db2.dispose()
        await truncate_postgres(settings)


def _settings_for(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    # Sync on purpose: pg_database_url creates its database with asyncio.run().
    if request.param == "postgres":
        return _base_settings(tmp_path, database_url=request.getfixturevalue("pg_database_url"))
    db_file = tmp_path / "store.sqlite3"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), db_file)
    return _base_settings(tmp_path, database_url=f"sqlite+aiosqlite:///{db_file}")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings | None:
    return None if request.param == "memory" else _settings_for(request, tmp_path)


@pytest.fixture
async def backend(backend_settings: Settings | None) -> AsyncIterator[Backend]:
    if backend_settings is None:
        memory = MemoryStore(event_window=WINDOW)

        async def nothing() -> None:
            return None  # the memory store trims on append

        yield Backend("memory", memory, memory, nothing)
        return
    async for item in _sql_backend(backend_settings):
        yield item


def _edit(doc: Doc[Any], text: str) -> bytes:
    updates: list[bytes] = []
    sub = doc.observe(lambda event: updates.append(event.update))
    prompt = doc.get("prompt", type=Text)
    with doc.transaction():
        prompt += text
    doc.unobserve(sub)
    return updates[0]


def _text(stored: StoredDocument) -> str:
    doc: Doc[Any] = Doc()
    for update_bytes in stored.all_updates:
        doc.apply_update(update_bytes)
    return str(doc.get("prompt", type=Text))


# --- documents ---------------------------------------------------------------------------------


async def test_load_of_an_unknown_room_is_empty(backend: Backend) -> None:
    stored = await backend.store.load("nobody-here")
    assert stored.is_empty
    assert stored.snapshot_id is None
    assert await backend.store.history("nobody-here") == []


async def test_appended_updates_load_in_order_and_rebuild_the_text(backend: Backend) -> None:
    doc: Doc[Any] = Doc()
    first, second = _edit(doc, "一只猫 "), _edit(doc, "in the rain")
    assert await backend.store.append_updates(
        "r1", [UpdateRecord(first, "1")], writer="w1", batch=1
    )
    assert await backend.store.append_updates(
        "r1", [UpdateRecord(second, None)], writer="w1", batch=2
    )
    stored = await backend.other.load("r1")
    assert stored.updates == (first, second)
    assert len(set(stored.update_ids)) == 2
    assert _text(stored) == "一只猫 in the rain"
    assert (await backend.store.load("r2")).is_empty  # rooms are separate


async def test_a_retried_batch_is_stored_once(backend: Backend) -> None:
    doc: Doc[Any] = Doc()
    records = [UpdateRecord(_edit(doc, "a")), UpdateRecord(_edit(doc, "b"))]
    assert await backend.store.append_updates("r", records, writer="w", batch=7)
    assert not await backend.other.append_updates("r", records, writer="w", batch=7)
    assert len((await backend.store.load("r")).updates) == 2
    # the same batch number from another writer is another batch
    assert await backend.store.append_updates("r", records[:1], writer="w2", batch=7)
    assert len((await backend.store.load("r")).updates) == 3


async def test_concurrent_retries_of_one_batch_store_it_once(backend: Backend) -> None:
    doc: Doc[Any] = Doc()
    records = [UpdateRecord(_edit(doc, str(i))) for i in range(5)]
    results = await asyncio.gather(
        *(
            (backend.store if i % 2 else backend.other).append_updates(
                "r", records, writer="w", batch=1
            )
            for i in range(6)
        )
    )
    assert sorted(results) == [False] * 5 + [True]
    assert len((await backend.store.load("r")).updates) == 5


async def test_compaction_replaces_exactly_the_base_updates(backend: Backend) -> None:
    doc: Doc[Any] = Doc()
    await backend.store.append_updates(
        "r", [UpdateRecord(_edit(doc, "ab"), "u1")], writer="w", batch=1
    )
    await backend.store.append_updates(
        "r",
        [UpdateRecord(_edit(doc, "cd"), "u2"), UpdateRecord(_edit(doc, "e"))],
        writer="w",
        batch=2,
    )
    base = await backend.store.load("r")
    late = _edit(doc, "f")  # appended after base was loaded: must survive compaction
    await backend.other.append_updates("r", [UpdateRecord(late, "u3")], writer="w2", batch=1)

    snapshot = await backend.store.compact("r", doc_state(base), base=base)
    assert snapshot is not None
    assert snapshot.authors == frozenset({"u1", "u2"})
    assert snapshot.update_count == 3
    assert snapshot.created_at.tzinfo is not None

    after = await backend.other.load("r")
    assert after.snapshot_id == snapshot.snapshot_id
    assert after.updates == (late,)
    assert _text(after) == "abcdef"

    history = await backend.store.history("r")
    assert [s.snapshot_id for s in history] == [snapshot.snapshot_id]
    assert history[0].authors == frozenset({"u1", "u2"})
    assert history[0].update_count == 3

    # a second compaction on top keeps the first in the history
    again = await backend.store.compact("r", doc_state(after), base=after)
    assert again is not None
    assert again.authors == frozenset({"u3"})
    assert [s.snapshot_id for s in await backend.store.history("r")] == [
        snapshot.snapshot_id,
        again.snapshot_id,
    ]
    final = await backend.store.load("r")
    assert final.updates == ()
    assert _text(final) == "abcdef"


def doc_state(stored: StoredDocument) -> bytes:
    doc: Doc[Any] = Doc()
    for update_bytes in stored.all_updates:
        doc.apply_update(update_bytes)
    return doc.get_update()


async def test_compaction_from_a_stale_base_does_nothing(backend: Backend) -> None:
    doc: Doc[Any] = Doc()
    await backend.store.append_updates("r", [UpdateRecord(_edit(doc, "x"))], writer="w", batch=1)
    base = await backend.store.load("r")
    assert await backend.store.compact("r", doc_state(base), base=base) is not None
    assert await backend.other.compact("r", doc_state(base), base=base) is None
    assert len(await backend.store.history("r")) == 1
    assert _text(await backend.store.load("r")) == "x"


async def test_concurrent_compactions_from_one_base_let_one_win(backend: Backend) -> None:
    doc: Doc[Any] = Doc()
    for batch in range(1, 4):
        await backend.store.append_updates(
            "r", [UpdateRecord(_edit(doc, str(batch)))], writer="w", batch=batch
        )
    base = await backend.store.load("r")
    state = doc_state(base)
    results = await asyncio.gather(
        *(
            (backend.store if i % 2 else backend.other).compact("r", state, base=base)
            for i in range(4)
        )
    )
    assert sum(result is not None for result in results) == 1
    assert len(await backend.store.history("r")) == 1
    assert _text(await backend.store.load("r")) == "123"


# --- events ------------------------------------------------------------------------------------


async def test_events_get_increasing_seqs_per_room(backend: Backend) -> None:
    e1 = await backend.store.append_event("a", "chat.message", {"text": "你好"}, persist=True)
    e2 = await backend.store.append_event("a", "job.progress", {"p": 0.5}, persist=False)
    e3 = await backend.other.append_event(
        "a", "system.notice", {"n": [1, {"x": None}]}, persist=True
    )
    b1 = await backend.store.append_event("b", "chat.message", {"text": "b"}, persist=True)
    # Strictly increasing per room, gaps allowed (an unstored event may leave one).
    assert (e1.seq, b1.seq) == (1, 1)
    assert e1.seq < e2.seq < e3.seq
    assert e1.ts.tzinfo is not None
    assert not e2.persist
    assert await backend.store.last_seq("a") == e3.seq
    assert await backend.other.last_seq("b") == 1
    assert await backend.store.last_seq("unknown") == 0

    replay = await backend.other.events_since("a", 0, limit=10)
    assert replay is not None
    assert [(e.seq, e.type, dict(e.data)) for e in replay] == [
        (1, "chat.message", {"text": "你好"}),
        (e3.seq, "system.notice", {"n": [1, {"x": None}]}),
    ]
    assert all(e.persist and e.room == "a" for e in replay)
    assert [e.seq for e in await backend.store.events_since("a", 1, limit=10) or []] == [e3.seq]
    # A client whose last seen event was the unstored one still gets what followed it.
    assert [e.seq for e in await backend.other.events_since("a", e2.seq, limit=10) or []] == [
        e3.seq
    ]
    assert await backend.store.events_since("a", e3.seq, limit=10) == []
    assert await backend.store.events_since("unknown", 0, limit=10) == []


async def test_stored_events_name_the_stored_event_before_them(backend: Backend) -> None:
    """``prev`` lets a process notice an event the bus lost: it is the seq of the room's stored
    event before this one, across processes and past unstored events."""
    first = await backend.store.append_event("a", "chat.message", {}, persist=True)
    tick = await backend.store.append_event("a", "job.progress", {}, persist=False)
    second = await backend.other.append_event("a", "job.succeeded", {}, persist=True)
    other_room = await backend.other.append_event("b", "chat.message", {}, persist=True)
    third = await backend.store.append_event("a", "chat.message", {}, persist=True)
    assert (first.prev, tick.prev) == (0, None)
    assert second.prev == first.seq
    assert third.prev == second.seq
    assert other_room.prev == 0


async def test_prev_is_never_below_the_trim_horizon(backend: Backend) -> None:
    """The stored event before may have been trimmed (many unstored events since): ``prev`` then
    names the horizon, from which ``events_since`` still answers exactly."""
    await backend.store.append_event("r", "job.succeeded", {}, persist=True)
    for _ in range(WINDOW + 3):
        await backend.store.append_event("r", "member.joined", {}, persist=False)
    await backend.other.append_event("r", "member.joined", {}, persist=False)
    await backend.trim()
    event = await backend.store.append_event("r", "job.succeeded", {}, persist=True)
    assert event.prev is not None
    replay = await backend.other.events_since("r", event.prev, limit=10)
    assert replay is not None
    assert [e.seq for e in replay] == [event.seq]


async def test_event_data_is_copied(backend: Backend) -> None:
    data: dict[str, Any] = {"items": [1]}
    event = await backend.store.append_event("r", "x.y", data, persist=True)
    data["items"].append(2)
    assert dict(event.data) == {"items": [1]}
    replay = await backend.store.events_since("r", 0, limit=5)
    assert replay is not None
    assert dict(replay[0].data) == {"items": [1]}


@pytest.mark.parametrize("seq", [-1, 3])
async def test_events_since_a_bad_seq_asks_for_resync(backend: Backend, seq: int) -> None:
    await backend.store.append_event("r", "a", {}, persist=True)
    await backend.store.append_event("r", "a", {}, persist=True)
    assert await backend.store.events_since("r", seq, limit=10) is None


async def test_a_gap_bigger_than_the_limit_asks_for_resync(backend: Backend) -> None:
    for _ in range(4):
        await backend.store.append_event("r", "a", {}, persist=True)
    assert await backend.store.events_since("r", 0, limit=3) is None
    assert [e.seq for e in await backend.store.events_since("r", 1, limit=3) or []] == [2, 3, 4]


async def test_trimmed_events_ask_for_resync(backend: Backend) -> None:
    for i in range(WINDOW + 3):
        await backend.store.append_event("r", "job.progress", {"i": i}, persist=True)
    await backend.trim()
    assert await backend.store.events_since("r", 0, limit=100) is None
    assert await backend.store.events_since("r", 2, limit=100) is None
    kept = await backend.store.events_since("r", 3, limit=100)
    assert kept is not None
    assert [e.seq for e in kept] == [4, 5, 6, 7, 8]


async def test_concurrent_events_get_unique_seqs(backend: Backend) -> None:
    n = 40
    events = await asyncio.gather(
        *(
            (backend.store if i % 2 else backend.other).append_event(
                "hot", "chat.message", {"i": i}, persist=i % 3 != 0
            )
            for i in range(n)
        )
    )
    seqs = [e.seq for e in events]
    assert len(set(seqs)) == n
    assert min(seqs) >= 1
    last = await backend.store.last_seq("hot")
    assert max(seqs) <= last  # none of them looks like a seq "from the future"
    if isinstance(backend.store, SqlStore):  # the memory store keeps a window of WINDOW only
        replay = await backend.other.events_since("hot", 0, limit=n)
        assert replay is not None
        assert [e.seq for e in replay] == sorted(e.seq for e in events if e.persist)


async def test_first_events_of_many_rooms_race_safely(backend: Backend) -> None:
    events = await asyncio.gather(
        *(
            (backend.store if i % 2 else backend.other).append_event(
                f"room-{i % 4}", "a", {}, persist=True
            )
            for i in range(16)
        )
    )
    for room in range(4):
        seqs = sorted(e.seq for e in events if e.room == f"room-{room}")
        assert seqs == [1, 2, 3, 4]


async def test_seq_rules_hold_across_processes_with_unstored_events(backend: Backend) -> None:
    a, b = backend.store, backend.other
    mine: list[int] = []  # what process a handed out, in order
    handed: list[int] = []
    stored: list[int] = []
    for step in range(10):  # four stored events: within the memory store's window
        store, persist = [(a, False), (b, True), (a, False), (b, False), (a, True)][step % 5]
        event = await store.append_event("mix", "x.y", {"step": step}, persist=persist)
        handed.append(event.seq)
        if persist:
            stored.append(event.seq)
        if store is a:
            mine.append(event.seq)
        last = await a.last_seq("mix")
        assert event.seq <= last
        # From any seq handed out, the replay is never refused as "from the future" and holds
        # every stored event above it.
        for seen in handed:
            replay = await b.events_since("mix", seen, limit=100)
            assert replay is not None
            assert [e.seq for e in replay] == sorted(x for x in stored if x > seen)
    assert len(set(handed)) == len(handed)
    assert mine == sorted(mine)
    assert len(set(mine)) == len(mine)
    everything = await a.events_since("mix", 0, limit=100)
    assert everything is not None
    assert [e.data["step"] for e in everything] == [1, 4, 6, 9]


# --- SQL only ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def sql_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return _settings_for(request, tmp_path)


@pytest.fixture
async def sql(sql_settings: Settings) -> AsyncIterator[SqlStore]:
    async for item in _sql_backend(sql_settings):
        assert isinstance(item.store, SqlStore)
        yield item.store


async def _count(store: SqlStore, room: str, event_type: str | None = None) -> int:
    table = RoomEvent.__table__  # type: ignore[attr-defined]
    query = select(func.count()).select_from(table).where(table.c.room == room)
    if event_type:
        query = query.where(table.c.type == event_type)
    async with store.db.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_retention_keeps_chat_history_below_the_window(sql: SqlStore) -> None:
    for i in range(10):
        kind = "chat.message" if i % 2 else "job.progress"
        await sql.append_event("r", kind, {"i": i}, persist=True)
    await sql.append_event("quiet", "job.progress", {}, persist=True)
    deleted = await sql.trim_events(window=4)
    assert deleted == 3  # job events with seq 1, 3, 5 (seq <= 10 - 4)
    assert await _count(sql, "r") == 7
    assert await _count(sql, "r", "chat.message") == 5
    assert await _count(sql, "quiet") == 1  # below the window: untouched
    assert await sql.trim_events(window=4) == 0  # nothing new: idempotent

    page = await sql.events_before("r", before=None, limit=3, types=["chat.message"])
    assert [e.seq for e in page] == [10, 8, 6]
    older = await sql.events_before("r", before=6, limit=3, types=["chat.message"])
    assert [e.seq for e in older] == [4, 2]


async def test_retention_drops_old_chat_below_the_window_only(sql: SqlStore) -> None:
    for i in range(6):
        await sql.append_event("r", "chat.message", {"i": i}, persist=True)
    table = RoomEvent.__table__  # type: ignore[attr-defined]
    async with sql.db.engine.begin() as conn:
        await conn.execute(update(table).values(created_at=utcnow() - timedelta(days=30)))
    await sql.trim_events(window=2, chat_max_age=timedelta(days=7))
    replay = await sql.events_since("r", 4, limit=10)
    assert replay is not None
    assert [e.seq for e in replay] == [5, 6]
    assert await _count(sql, "r") == 2


async def test_retention_refuses_a_zero_window(sql: SqlStore) -> None:
    with pytest.raises(ValueError, match="positive"):
        await sql.trim_events(window=0)


async def test_empty_batch_is_accepted_and_stores_nothing(sql: SqlStore) -> None:
    assert await sql.append_updates("r", [], writer="w", batch=1)
    table = RoomUpdate.__table__  # type: ignore[attr-defined]
    async with sql.db.engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    assert count == 0


async def test_unstored_events_reserve_seqs_in_blocks(sql_settings: Settings) -> None:
    db = Database(sql_settings)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE ROOM_SEQ"):
            statements.append(statement)

    sa_event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        store = SqlStore(db, ephemeral_seq_block=16)
        ticks = [
            await store.append_event("r", "job.progress", {"i": i}, persist=False)
            for i in range(40)
        ]
        # ceil(40 / 16) = 3 reservations, not 40 writes; the first one bumps twice (the counter
        # row does not exist yet: bump, create, bump).
        assert len(statements) == 4
        assert [e.seq for e in ticks] == list(range(1, 41))
        assert await store.events_since("r", 0, limit=100) == []  # nothing was stored
        stored = await store.append_event("r", "chat.message", {}, persist=True)
        assert stored.seq == 49  # after the whole reserved block: 3 x 16 + 1
        tick = await store.append_event("r", "job.progress", {}, persist=False)
        assert tick.seq > stored.seq  # the rest of the old block was abandoned
        with pytest.raises(ValueError, match="ephemeral_seq_block"):
            SqlStore(db, ephemeral_seq_block=0)
    finally:
        sa_event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        await db.dispose()
        await truncate_postgres(sql_settings)
