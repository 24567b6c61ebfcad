"""Persistence of room documents and room events: the :class:`DocumentStore` protocol.

The realtime core only needs seven calls. The hub implements them on SQL (``hub/collab``);
:class:`MemoryStore` is the reference implementation used by the embedded mode's tests.

Rules every implementation must keep (several processes may serve the same room at once; these
are the lessons of Hocuspocus' Redis scaling, ADR 0002 and ADR 0003):

* **Append-only, idempotent updates.** ``append_updates`` is keyed by ``(writer, batch)``: a
  retried batch is stored once. Updates are Yjs v1 updates; storing one twice is harmless to the
  document (CRDT) but wastes space, hence the key.
* **Only compaction locks.** ``compact`` replaces the latest snapshot and exactly the updates of
  the :class:`StoredDocument` it was computed from (``base``) with one merged snapshot. If
  another process compacted in between (the latest snapshot is no longer ``base``'s), it does
  nothing and returns ``None``. Updates appended after ``base`` was loaded are never covered.
  Old snapshots stay available through ``history``.
* **Events get a per-room ``seq`` atomically** (strictly increasing, gaps allowed: events stored
  with ``persist=False`` get a seq but are not replayable). ``events_since`` returns ``None``
  when it cannot return *every* persisted event after ``seq`` within ``limit`` (the window was
  trimmed, the gap is too big, or ``seq`` is from the future): the client must resync.
  A stored event carries ``prev``, the seq of the room's stored event before it (0 for the
  first), read in the same atomic step: processes use it to notice an event the bus lost.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from rooms.types import Event, utcnow


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """One Yjs update to store, with the user who made it (None: server or unknown)."""

    data: bytes
    author_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """What ``load`` returns: apply ``snapshot`` (if any) then ``updates`` in order."""

    snapshot: bytes | None = None
    updates: tuple[bytes, ...] = ()
    snapshot_id: int | None = None  # opaque to the core; identifies ``snapshot``
    update_ids: tuple[int, ...] = ()  # opaque to the core; identifies ``updates``

    @property
    def all_updates(self) -> list[bytes]:
        return ([self.snapshot] if self.snapshot is not None else []) + list(self.updates)

    @property
    def is_empty(self) -> bool:
        return self.snapshot is None and not self.updates


@dataclass(frozen=True, slots=True)
class Snapshot:
    room: str
    snapshot_id: int
    state: bytes  # a Yjs update holding the whole document at that point
    authors: frozenset[str]  # users whose updates went into it since the previous snapshot
    created_at: datetime
    update_count: int  # how many updates it absorbed


@runtime_checkable
class DocumentStore(Protocol):
    async def load(self, room: str) -> StoredDocument:
        """Latest snapshot and every update stored after it (an empty document if none)."""

    async def append_updates(
        self, room: str, updates: Sequence[UpdateRecord], *, writer: str, batch: int
    ) -> bool:
        """Append a batch; ``(room, writer, batch)`` is the idempotency key. Returns False when
        that batch was already stored (nothing changes)."""

    async def compact(self, room: str, state: bytes, *, base: StoredDocument) -> Snapshot | None:
        """Store ``state`` (the merge of ``base``) as the new snapshot covering ``base``."""

    async def history(self, room: str) -> list[Snapshot]:
        """Every snapshot of the room, oldest first."""

    async def append_event(
        self, room: str, event_type: str, data: Mapping[str, Any], *, persist: bool
    ) -> Event:
        """Assign the next seq of the room (atomically) and, if ``persist``, keep the event and
        set its ``prev`` (the seq of the stored event before it, 0 if none)."""

    async def events_since(self, room: str, seq: int, *, limit: int) -> list[Event] | None:
        """Persisted events with a seq above ``seq``, oldest first; ``None``: resync."""

    async def last_seq(self, room: str) -> int:
        """Highest seq assigned in the room (0 when none)."""


@dataclass
class _DocLog:
    snapshots: list[Snapshot] = field(default_factory=list)
    updates: list[tuple[int, UpdateRecord]] = field(default_factory=list)
    batches: set[tuple[str, int]] = field(default_factory=set)
    next_update_id: int = 1


@dataclass
class _EventLog:
    window: deque[Event]
    next_seq: int = 1
    last_stored: int = 0  # seq of the latest persisted event
    trimmed_upto: int = 0  # highest persisted seq dropped from the window


class MemoryStore:
    """In-process :class:`DocumentStore`. Every method runs without awaiting, so each call is
    atomic with respect to the event loop (the SQL store gets the same from transactions)."""

    def __init__(self, *, event_window: int = 1000) -> None:
        if event_window <= 0:
            raise ValueError("event_window must be positive")
        self._event_window = event_window
        self._docs: dict[str, _DocLog] = {}
        self._events: dict[str, _EventLog] = {}

    # documents ---------------------------------------------------------------------------

    async def load(self, room: str) -> StoredDocument:
        log = self._docs.get(room)
        if log is None:
            return StoredDocument()
        latest = log.snapshots[-1] if log.snapshots else None
        return StoredDocument(
            snapshot=latest.state if latest else None,
            updates=tuple(record.data for _, record in log.updates),
            snapshot_id=latest.snapshot_id if latest else None,
            update_ids=tuple(update_id for update_id, _ in log.updates),
        )

    async def append_updates(
        self, room: str, updates: Sequence[UpdateRecord], *, writer: str, batch: int
    ) -> bool:
        log = self._docs.setdefault(room, _DocLog())
        key = (writer, batch)
        if key in log.batches:
            return False
        log.batches.add(key)
        for record in updates:
            log.updates.append(
                (log.next_update_id, UpdateRecord(bytes(record.data), record.author_id))
            )
            log.next_update_id += 1
        return True

    async def compact(self, room: str, state: bytes, *, base: StoredDocument) -> Snapshot | None:
        log = self._docs.setdefault(room, _DocLog())
        latest_id = log.snapshots[-1].snapshot_id if log.snapshots else None
        if latest_id != base.snapshot_id:
            return None  # someone else compacted since ``base`` was loaded
        covered = set(base.update_ids)
        absorbed = [record for update_id, record in log.updates if update_id in covered]
        snapshot = Snapshot(
            room=room,
            snapshot_id=len(log.snapshots) + 1,
            state=bytes(state),
            authors=frozenset(r.author_id for r in absorbed if r.author_id is not None),
            created_at=utcnow(),
            update_count=len(absorbed),
        )
        log.snapshots.append(snapshot)
        log.updates = [(uid, rec) for uid, rec in log.updates if uid not in covered]
        return snapshot

    async def history(self, room: str) -> list[Snapshot]:
        log = self._docs.get(room)
        return list(log.snapshots) if log else []

    # events ------------------------------------------------------------------------------

    def _event_log(self, room: str) -> _EventLog:
        log = self._events.get(room)
        if log is None:
            log = self._events[room] = _EventLog(window=deque())
        return log

    async def append_event(
        self, room: str, event_type: str, data: Mapping[str, Any], *, persist: bool
    ) -> Event:
        log = self._event_log(room)
        event = Event(
            room=room,
            seq=log.next_seq,
            type=event_type,
            data=copy.deepcopy(dict(data)),
            ts=utcnow(),
            persist=persist,
            prev=log.last_stored if persist else None,
        )
        log.next_seq += 1
        if persist:
            log.last_stored = event.seq
            log.window.append(event)
            if len(log.window) > self._event_window:
                log.trimmed_upto = log.window.popleft().seq
        return event

    async def events_since(self, room: str, seq: int, *, limit: int) -> list[Event] | None:
        log = self._event_log(room)
        if seq > log.next_seq - 1 or seq < log.trimmed_upto:
            return None
        events = [event for event in log.window if event.seq > seq]
        if len(events) > limit:
            return None
        return events

    async def last_seq(self, room: str) -> int:
        return self._event_log(room).next_seq - 1
