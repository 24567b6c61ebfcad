"""``hub rooms compact``: fold every room's stored updates into one snapshot.

Live rooms compact themselves every ``compact_every`` updates and when they unload; rooms that
were busy once and then left alone (or a store written by an older hub) keep their updates. This
re-encodes each such room's stored document (snapshot + updates) as one Yjs state update and
stores it through :meth:`hub.collab.store.SqlStore.compact`, whose unique (room, parent) row is
the lock: a room that a web process compacted meanwhile is skipped, never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycrdt import Doc
from sqlalchemy import func, select

from hub.collab.models import RoomUpdate
from hub.collab.store import SqlStore
from hub.db import Database

_UPDATES = RoomUpdate.metadata.tables[RoomUpdate.__tablename__]


@dataclass(frozen=True)
class Compacted:
    room: str
    updates: int  # updates folded in; 0: skipped (someone compacted it first)
    bytes_before: int
    bytes_after: int


async def rooms_with_updates(db: Database) -> list[tuple[str, int]]:
    """Rooms with stored updates not yet in a snapshot, and how many (ix_room_updates_room)."""
    stmt = select(_UPDATES.c.room, func.count()).group_by(_UPDATES.c.room).order_by(_UPDATES.c.room)
    async with db.unit_of_work() as session:
        return [(str(room), int(count)) for room, count in (await session.execute(stmt)).all()]


async def compact_room(store: SqlStore, room: str) -> Compacted:
    base = await store.load(room)
    before = sum(len(update) for update in base.all_updates)
    if not base.updates:
        return Compacted(room, 0, before, before)
    doc: Doc[Any] = Doc()
    for update in base.all_updates:
        doc.apply_update(update)
    state = doc.get_update()
    snapshot = await store.compact(room, state, base=base)
    if snapshot is None:
        return Compacted(room, 0, before, before)
    return Compacted(room, len(base.updates), before, len(state))
