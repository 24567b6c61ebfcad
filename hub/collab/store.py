"""The SQL :class:`rooms.store.DocumentStore`: room documents and event streams on SQLite or
Postgres.

Every call is one short transaction of its own (the realtime core calls the store from its flush
and event paths, outside any request), except the reads a request makes inside its unit of work:
those pass the request's connection (``conn=``), because a task that holds a pooled connection
must never wait for a second one. How the rules of ``rooms/store.py`` are kept:

* **Idempotent appends.** ``room_updates`` has UNIQUE(room, writer, batch, idx); a retried batch
  violates it and the whole batch is rolled back: ``append_updates`` returns False.
* **Only compaction locks, and the lock is a constraint.** A snapshot records the snapshot it
  was computed on (``parent_id``, 0 for none) under UNIQUE(room, parent_id). A compaction whose
  base is the latest snapshot inserts the only child; two compactions from one base collide, and
  a compaction from a stale base collides with the child that made it stale. The loser rolls back
  and returns None. No advisory lock, no lock table, same code on both databases; the edit path
  never waits for it.
* **Atomic seq.** ``UPDATE room_seq SET last_seq = last_seq + 1 ... RETURNING`` (the row is
  created on first use with ``INSERT ... ON CONFLICT DO NOTHING``) and the event row are one
  transaction, so seqs are unique and commit in order (Postgres holds the row lock until commit;
  SQLite serialises writers).
* **Events that are not stored cost no write, mostly.** ``persist=False`` events (member
  joins/leaves, progress ticks) take their seq from a block of ``ephemeral_seq_block`` seqs this
  process reserved with one ``last_seq = last_seq + N`` bump; only an exhausted block costs a
  round trip. A stored event always bumps the counter by one and discards what is left of this
  process' block (those seqs are now below it). The guarantee kept: seqs are **unique per room**
  across processes (blocks are disjoint ranges of the one counter); **every seq a process hands
  out is greater than every seq it handed out before** (for calls that do not overlap); every
  seq handed out is ``<= last_seq`` (``events_since`` never takes it for one "from the
  future"); and a stored event's seq is greater than every seq reserved before it, so replaying
  ``events_since(seq)`` from any seq a client saw returns every stored event it has not seen
  that was committed after that seq was handed out. Not kept: a client may get an unstored
  event from *another* process with a seq below one it already saw (that process is still using
  an older block): clients dedupe by seq and keep the highest, they never drop a lower seq seen
  for the first time. Gaps appear wherever a block is abandoned (a stored event, a restart).
* **Every stored event knows its predecessor.** ``append_event`` reads the highest stored seq
  below the new one in the same transaction (the primary key's index) and returns it as
  ``Event.prev``; processes use it to notice an event the bus lost. The retention job may have
  deleted the predecessor, so ``prev`` is at least ``trimmed_upto``: overstated, it only makes a
  process that delivered nothing stored since then ask ``events_since``, which answers exactly
  (a resync when that is below the horizon); understated, a lost event could go unnoticed.
* **Writes come first.** On SQLite a transaction that reads and then writes fails at once with
  "database is locked" when another writer committed in between (WAL snapshots cannot be
  upgraded); every writing transaction here therefore starts with its write.
* **Bounded replay.** :meth:`SqlStore.trim_events` (the retention job) deletes persisted events
  beyond a per-room window and raises ``room_seq.trimmed_upto``; ``events_since`` answers None
  (resync) for anything below it. Chat messages can be kept longer than the replay window: they
  are the chat history the API pages through.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.collab.models import RoomEvent, RoomSeq, RoomSnapshot, RoomUpdate
from hub.db import Database, utcnow
from rooms.store import Snapshot, StoredDocument, UpdateRecord
from rooms.types import Event

log = logging.getLogger(__name__)

UPDATES: Table = RoomUpdate.__table__  # type: ignore[attr-defined]
SNAPSHOTS: Table = RoomSnapshot.__table__  # type: ignore[attr-defined]
EVENTS: Table = RoomEvent.__table__  # type: ignore[attr-defined]
SEQ: Table = RoomSeq.__table__  # type: ignore[attr-defined]

CHAT_EVENT = "chat.message"
_IN_CHUNK = 500  # bound IN (...) lists: SQLite's default variable limit is well above this
_MAX_BLOCKS = 10_000  # rooms whose seq block is remembered (least recently used forgotten)


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield list(ids[start : start + _IN_CHUNK])


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for DateTime(timezone=True) on plain Core selects.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SqlStore:
    """:class:`rooms.store.DocumentStore` on the hub's database."""

    def __init__(self, db: Database, *, ephemeral_seq_block: int = 64) -> None:
        if ephemeral_seq_block < 1:
            raise ValueError("ephemeral_seq_block must be at least 1")
        self.db = db
        self._block_size = ephemeral_seq_block
        # room -> (next, last) of the seqs this process reserved for events it does not store.
        self._blocks: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._engine = db.engine
        dialect = self._engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    @contextlib.asynccontextmanager
    async def _reading(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        """The caller's connection when it holds one (a request's unit of work), else one of
        our own. A task that holds a pooled connection never waits for a second one: with every
        connection held by such tasks, none would come back (issue #8)."""
        if conn is not None:
            yield conn
            return
        async with self._engine.connect() as own:
            yield own

    # documents ---------------------------------------------------------------------------

    async def load(self, room: str, *, conn: AsyncConnection | None = None) -> StoredDocument:
        async with self._reading(conn) as conn:
            # Updates before the snapshot: a compaction committing between the two reads then
            # yields a newer snapshot plus updates it already holds (harmless duplicates), never
            # an old snapshot without the updates the compaction deleted.
            rows = (
                await conn.execute(
                    select(UPDATES.c.update_id, UPDATES.c.data)
                    .where(UPDATES.c.room == room)
                    .order_by(UPDATES.c.update_id)
                )
            ).all()
            snap = (
                await conn.execute(
                    select(SNAPSHOTS.c.snapshot_id, SNAPSHOTS.c.state)
                    .where(SNAPSHOTS.c.room == room)
                    .order_by(SNAPSHOTS.c.snapshot_id.desc())
                    .limit(1)
                )
            ).first()
        return StoredDocument(
            snapshot=bytes(snap.state) if snap else None,
            updates=tuple(bytes(row.data) for row in rows),
            snapshot_id=int(snap.snapshot_id) if snap else None,
            update_ids=tuple(int(row.update_id) for row in rows),
        )

    async def append_updates(
        self, room: str, updates: Sequence[UpdateRecord], *, writer: str, batch: int
    ) -> bool:
        """Store a batch once. An empty batch stores nothing and returns True (there is no row
        to carry its key; the core never flushes empty batches)."""
        if not updates:
            return True
        now = utcnow()
        rows = [
            {
                "room": room,
                "writer": writer,
                "batch": batch,
                "idx": idx,
                "data": bytes(record.data),
                "author_id": record.author_id,
                "created_at": now,
            }
            for idx, record in enumerate(updates)
        ]
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(UPDATES), rows)
        except IntegrityError:
            return False  # (room, writer, batch) was stored before: a retry
        return True

    async def compact(self, room: str, state: bytes, *, base: StoredDocument) -> Snapshot | None:
        parent_id = base.snapshot_id or 0
        now = utcnow()
        try:
            async with self._engine.begin() as conn:
                # The insert first: it takes the write lock (SQLite) and is the compaction lock.
                result = await conn.execute(
                    insert(SNAPSHOTS)
                    .values(
                        room=room,
                        parent_id=parent_id,
                        state=bytes(state),
                        authors=[],
                        update_count=0,
                        created_at=now,
                    )
                    .returning(SNAPSHOTS.c.snapshot_id)
                )
                snapshot_id = int(result.scalar_one())
                authors: set[str] = set()
                count = 0
                for chunk in _chunks(base.update_ids):
                    covered = and_(UPDATES.c.room == room, UPDATES.c.update_id.in_(chunk))
                    for (author_id,) in await conn.execute(
                        select(UPDATES.c.author_id).where(covered)
                    ):
                        count += 1
                        if author_id is not None:
                            authors.add(author_id)
                    await conn.execute(delete(UPDATES).where(covered))
                await conn.execute(
                    update(SNAPSHOTS)
                    .where(SNAPSHOTS.c.snapshot_id == snapshot_id)
                    .values(authors=sorted(authors), update_count=count)
                )
        except IntegrityError:
            return None  # another process compacted since ``base`` was loaded
        return Snapshot(
            room=room,
            snapshot_id=snapshot_id,
            state=bytes(state),
            authors=frozenset(authors),
            created_at=now,
            update_count=count,
        )

    async def history(self, room: str) -> list[Snapshot]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(SNAPSHOTS)
                    .where(SNAPSHOTS.c.room == room)
                    .order_by(SNAPSHOTS.c.snapshot_id)
                )
            ).all()
        return [self._snapshot(room, row) for row in rows]

    # events ------------------------------------------------------------------------------

    async def _next_seq(self, conn: AsyncConnection, room: str, count: int) -> int:
        """Advance the room's counter by ``count``; the new value (the last seq reserved)."""
        bump = (
            update(SEQ)
            .where(SEQ.c.room == room)
            .values(last_seq=SEQ.c.last_seq + count)
            .returning(SEQ.c.last_seq)
        )
        seq = (await conn.execute(bump)).scalar_one_or_none()
        if seq is None:
            # First event of the room. Two first events race here: DO NOTHING lets the loser
            # through (after the winner commits, on Postgres) and both then bump the one row.
            create = self._insert(SEQ).values(room=room, last_seq=0, trimmed_upto=0)
            await conn.execute(create.on_conflict_do_nothing(index_elements=["room"]))
            seq = (await conn.execute(bump)).scalar_one()
        return int(seq)

    async def append_event(
        self, room: str, event_type: str, data: Mapping[str, Any], *, persist: bool
    ) -> Event:
        now = utcnow()
        payload = copy.deepcopy(dict(data))
        if not persist:
            seq = await self._ephemeral_seq(room)
            return Event(room=room, seq=seq, type=event_type, data=payload, ts=now, persist=False)
        async with self._engine.begin() as conn:
            seq = await self._next_seq(conn, room, 1)
            # The counter row is locked (Postgres) or the database is (SQLite) until commit, so
            # no stored event of the room can appear below ``seq`` meanwhile.
            below = select(func.max(EVENTS.c.seq)).where(EVENTS.c.room == room, EVENTS.c.seq < seq)
            horizon = select(SEQ.c.trimmed_upto).where(SEQ.c.room == room)
            prev = max(
                int((await conn.execute(below)).scalar_one_or_none() or 0),
                int((await conn.execute(horizon)).scalar_one_or_none() or 0),
            )
            await conn.execute(
                insert(EVENTS).values(
                    room=room, seq=seq, type=event_type, data=payload, created_at=now
                )
            )
        block = self._blocks.get(room)
        if block is not None and block[1] < seq:
            # What is left of the block lies below this seq: handing it out later would make this
            # process' seqs go backwards. The next ephemeral event reserves a fresh block.
            del self._blocks[room]
        return Event(
            room=room,
            seq=seq,
            type=event_type,
            data=payload,
            ts=now,
            persist=True,
            prev=prev,
        )

    async def _ephemeral_seq(self, room: str) -> int:
        """A seq for an event that is not stored, mostly without touching the database."""
        block = self._blocks.get(room)
        if block is not None and block[0] <= block[1]:
            seq = block[0]
            self._blocks[room] = (seq + 1, block[1])
            self._blocks.move_to_end(room)
            return seq
        async with self._engine.begin() as conn:
            end = await self._next_seq(conn, room, self._block_size)
        start = end - self._block_size + 1
        current = self._blocks.get(room)
        if current is None or current[1] < start:  # a concurrent reservation may be newer
            self._blocks[room] = (start + 1, end)
            self._blocks.move_to_end(room)
            while len(self._blocks) > _MAX_BLOCKS:
                self._blocks.popitem(last=False)  # forgetting a block only leaves a gap
        return start

    async def events_since(self, room: str, seq: int, *, limit: int) -> list[Event] | None:
        if seq < 0:
            return None
        async with self._engine.connect() as conn:
            # Events before the horizon: a trim committing in between raises the horizon we
            # read next, so a half-trimmed answer is never returned as complete.
            rows = (
                await conn.execute(
                    select(EVENTS)
                    .where(EVENTS.c.room == room, EVENTS.c.seq > seq)
                    .order_by(EVENTS.c.seq)
                    .limit(limit + 1)
                )
            ).all()
            counter = (
                await conn.execute(
                    select(SEQ.c.last_seq, SEQ.c.trimmed_upto).where(SEQ.c.room == room)
                )
            ).first()
        last = int(counter.last_seq) if counter else 0
        trimmed = int(counter.trimmed_upto) if counter else 0
        if seq > last or seq < trimmed or len(rows) > limit:
            return None
        return [self._event(row) for row in rows]

    async def last_seq(self, room: str) -> int:
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(select(SEQ.c.last_seq).where(SEQ.c.room == room))
            ).scalar_one_or_none()
        return int(value or 0)

    @staticmethod
    def _event(row: Any) -> Event:
        return Event(
            room=row.room,
            seq=int(row.seq),
            type=row.type,
            data=dict(row.data),
            ts=_aware(row.created_at),
            persist=True,
        )

    # hub extras (not part of the core protocol) ----------------------------------------

    async def events_before(
        self,
        room: str,
        *,
        before: int | None,
        limit: int,
        types: Iterable[str],
        conn: AsyncConnection | None = None,
    ) -> list[Event]:
        """Persisted events of ``types`` with a seq below ``before`` (all when None), newest
        first: the paged chat history."""
        query = select(EVENTS).where(EVENTS.c.room == room, EVENTS.c.type.in_(list(types)))
        if before is not None:
            query = query.where(EVENTS.c.seq < before)
        async with self._reading(conn) as conn:
            rows = (await conn.execute(query.order_by(EVENTS.c.seq.desc()).limit(limit))).all()
        return [self._event(row) for row in rows]

    async def snapshots_before(
        self, room: str, *, before: int | None, limit: int, conn: AsyncConnection | None = None
    ) -> list[Snapshot]:
        """Snapshots with an id below ``before`` (all when None), newest first: the paged
        history (``history`` returns every snapshot with its state, which grows without end)."""
        query = select(SNAPSHOTS).where(SNAPSHOTS.c.room == room)
        if before is not None:
            query = query.where(SNAPSHOTS.c.snapshot_id < before)
        query = query.order_by(SNAPSHOTS.c.snapshot_id.desc()).limit(limit)
        async with self._reading(conn) as conn:
            rows = (await conn.execute(query)).all()
        return [self._snapshot(room, row) for row in rows]

    @staticmethod
    def _snapshot(room: str, row: Any) -> Snapshot:
        return Snapshot(
            room=room,
            snapshot_id=int(row.snapshot_id),
            state=bytes(row.state),
            authors=frozenset(row.authors or ()),
            created_at=_aware(row.created_at),
            update_count=int(row.update_count),
        )

    async def trim_events(self, *, window: int, chat_max_age: timedelta | None = None) -> int:
        """The retention job: keep the last ``window`` seqs of every room replayable and delete
        older persisted events. Chat messages below the window survive (they are the chat
        history) unless older than ``chat_max_age``. Returns how many rows were deleted."""
        if window <= 0:
            raise ValueError("window must be positive")
        deleted = 0
        async with self._engine.begin() as conn:
            # Raise the horizon first: it is the write lock on SQLite, and on Postgres the row
            # locks keep those rooms' events from being appended until the deletes commit.
            moved = (
                await conn.execute(
                    update(SEQ)
                    .where(SEQ.c.last_seq - window > SEQ.c.trimmed_upto)
                    .values(trimmed_upto=SEQ.c.last_seq - window)
                    .returning(SEQ.c.room, SEQ.c.trimmed_upto)
                )
            ).all()
            for room, horizon in moved:
                result = await conn.execute(
                    delete(EVENTS).where(
                        EVENTS.c.room == room,
                        EVENTS.c.seq <= horizon,
                        EVENTS.c.type != CHAT_EVENT,
                    )
                )
                deleted += max(result.rowcount or 0, 0)
            if chat_max_age is not None:
                # Only below each room's horizon: a hole inside the replay window could not be
                # told apart from a complete replay.
                horizon_of_room = (
                    select(SEQ.c.trimmed_upto).where(SEQ.c.room == EVENTS.c.room).scalar_subquery()
                )
                result = await conn.execute(
                    delete(EVENTS).where(
                        EVENTS.c.type == CHAT_EVENT,
                        EVENTS.c.created_at < utcnow() - chat_max_age,
                        EVENTS.c.seq <= horizon_of_room,
                    )
                )
                deleted += max(result.rowcount or 0, 0)
        if deleted:
            log.info("trimmed room events", extra={"deleted": deleted, "rooms": len(moved)})
        return deleted
