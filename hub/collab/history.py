"""A room's prompt as it changed: who changed the prompt or the negative prompt, and when.

Read from the document history the store keeps (docs/collab.md, "The SQL store"): the
compacted snapshots, oldest first, each with the authors of the updates it folded and the time
it was made, then the updates stored since the latest snapshot, each with its author and the
time it was flushed. Replaying them into one document gives the text after each step; a step
that changed neither text (a parameter edit, a duplicate) is left out.

The granularity is the store's: an update is one flush of edits (tens of milliseconds of
typing), a snapshot folds up to ``compact_every`` updates or a whole session (rooms compact when
they unload), so a snapshot's step credits all its authors with the change it holds and carries
the time of the compaction, not of each keystroke. Other domains call :func:`prompt_steps`
(works: the edit timeline of a published work).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from hub.accounts.deps import Actor
from hub.collab.access import access_room
from hub.collab.models import RoomSnapshot, RoomUpdate
from rooms.room import NEGATIVE, PROMPT, new_document, read_document
from rooms.types import Role

UPDATES: Table = RoomUpdate.__table__  # type: ignore[attr-defined]
SNAPSHOTS: Table = RoomSnapshot.__table__  # type: ignore[attr-defined]

# Snapshots read per room, newest kept: a room that lived for years has thousands, each holding
# the whole document; older ones become the step's baseline (their authors are not credited).
MAX_SNAPSHOTS = 400
_STATE_CHUNK = 20  # snapshot states fetched per query, so memory stays bounded


@dataclass(frozen=True)
class DocumentStep:
    """The room's texts after one stored change."""

    at: datetime
    author_ids: tuple[int, ...]  # sorted; empty for edits the hub made itself
    prompt: str
    negative: str
    # True for the state before the part of the history that was read (older snapshots were
    # skipped): it shows where the history starts, and nobody is credited for it.
    baseline: bool = False


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes on plain Core selects.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _user_ids(raw: Iterable[Any]) -> tuple[int, ...]:
    return tuple(sorted({int(a) for a in raw if isinstance(a, str) and a.isdigit()}))


async def _snapshot_heads(conn: AsyncConnection, slug: str) -> tuple[list[Any], bool]:
    """Ids, times and authors of the newest MAX_SNAPSHOTS snapshots, oldest first, and whether
    older ones exist."""
    rows = (
        await conn.execute(
            select(SNAPSHOTS.c.snapshot_id, SNAPSHOTS.c.created_at, SNAPSHOTS.c.authors)
            .where(SNAPSHOTS.c.room == slug)
            .order_by(SNAPSHOTS.c.snapshot_id.desc())
            .limit(MAX_SNAPSHOTS + 1)
        )
    ).all()
    truncated = len(rows) > MAX_SNAPSHOTS
    return list(reversed(rows[:MAX_SNAPSHOTS])), truncated


async def _states(conn: AsyncConnection, ids: list[int]) -> dict[int, bytes]:
    rows = await conn.execute(
        select(SNAPSHOTS.c.snapshot_id, SNAPSHOTS.c.state).where(SNAPSHOTS.c.snapshot_id.in_(ids))
    )
    return {int(row.snapshot_id): bytes(row.state) for row in rows}


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _STATE_CHUNK):
        yield items[start : start + _STATE_CHUNK]


class _Replay:
    """One document the stored changes are applied to in order; records a step whenever the
    prompt or the negative prompt came out different."""

    def __init__(self) -> None:
        self.doc = new_document()
        self.steps: list[DocumentStep] = []
        self._texts = ("", "")

    def apply(self, data: bytes, at: datetime, authors: tuple[int, ...], *, baseline: bool) -> None:
        self.doc.apply_update(data)
        view = read_document(self.doc)
        texts = (str(view[PROMPT]), str(view[NEGATIVE]))
        if texts == self._texts:
            return
        self._texts = texts
        self.steps.append(
            DocumentStep(
                at=_aware(at),
                author_ids=() if baseline else authors,
                prompt=texts[0],
                negative=texts[1],
                baseline=baseline,
            )
        )


async def read_steps(conn: AsyncConnection, slug: str) -> list[DocumentStep]:
    """The prompt's steps in the stored history of room ``slug``, oldest first (no access
    check: :func:`prompt_steps` is the one for other domains)."""
    replay = _Replay()
    heads, truncated = await _snapshot_heads(conn, slug)
    first = True
    for chunk in _chunks(heads):
        states = await _states(conn, [int(h.snapshot_id) for h in chunk])
        for head in chunk:
            state = states.get(int(head.snapshot_id))
            if state is not None:
                authors = _user_ids(head.authors or ())
                replay.apply(state, head.created_at, authors, baseline=first and truncated)
            first = False
    # At most compact_every rows (the room compacts past that), so one query.
    updates = await conn.execute(
        select(UPDATES.c.data, UPDATES.c.author_id, UPDATES.c.created_at)
        .where(UPDATES.c.room == slug)
        .order_by(UPDATES.c.update_id)
    )
    for row in updates:
        replay.apply(bytes(row.data), row.created_at, _user_ids([row.author_id]), baseline=False)
    return replay.steps


async def prompt_steps(
    session: AsyncSession, actor: Actor, slug: str, *, at_least: Role = Role.VIEWER
) -> list[DocumentStep]:
    """How the prompt of room ``slug`` came to be, for an actor who may see the room
    (RoomNotFound otherwise, like every read of a room)."""
    await access_room(session, actor, slug, at_least=at_least)
    return await read_steps(await session.connection(), slug)
