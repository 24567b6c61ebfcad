"""What a room holds, for reading: its document now, its chat and its snapshot history.

Each read checks access like the room itself (:func:`hub.collab.access.access_room`); the
document comes from the room in memory when it is live, the rest from the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.deps import Actor
from hub.accounts.users import get_users
from hub.collab.access import access_room
from hub.collab.rooms import user_ref
from hub.collab.schemas import ChatMessageOut, ChatPage, DocumentOut, HistoryPage, SnapshotOut
from hub.collab.store import CHAT_EVENT
from rooms.room import new_document, read_document

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent


async def read_document_of(
    session: AsyncSession, actor: Actor | None, slug: str, *, live: RoomsComponent
) -> DocumentOut:
    await access_room(session, actor, slug)
    document, source = await live.read_document(session, slug)
    return DocumentOut(**document, source=source)


def _author_id(raw: Any) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


async def list_chat(
    session: AsyncSession,
    actor: Actor | None,
    slug: str,
    *,
    before: int | None,
    limit: int,
    live: RoomsComponent,
) -> ChatPage:
    await access_room(session, actor, slug)
    events = await live.store.events_before(
        slug, before=before, limit=limit, types=[CHAT_EVENT], conn=await session.connection()
    )
    items = [
        ChatMessageOut(
            seq=e.seq,
            ts=e.ts,
            user_id=_author_id(e.data.get("user_id")),
            name=e.data.get("name") if isinstance(e.data.get("name"), str) else None,
            text=str(e.data.get("text", "")),
        )
        for e in events
    ]
    next_before = events[-1].seq if len(events) == limit else None
    return ChatPage(items=items, next_before=next_before)


async def list_history(
    session: AsyncSession,
    actor: Actor | None,
    slug: str,
    *,
    before: int | None,
    limit: int,
    live: RoomsComponent,
) -> HistoryPage:
    await access_room(session, actor, slug)
    snapshots = await live.store.snapshots_before(
        slug, before=before, limit=limit, conn=await session.connection()
    )
    ids = {uid for s in snapshots for a in s.authors if (uid := _author_id(a)) is not None}
    users = await get_users(session, ids)
    items = []
    for snap in snapshots:
        doc = new_document()
        doc.apply_update(snap.state)
        authors = [
            ref
            for a in sorted(snap.authors)
            if (uid := _author_id(a)) is not None and (ref := user_ref(users.get(uid)))
        ]
        items.append(
            SnapshotOut(
                snapshot_id=snap.snapshot_id,
                created_at=snap.created_at,
                update_count=snap.update_count,
                authors=authors,
                document=read_document(doc),
            )
        )
    next_before = snapshots[-1].snapshot_id if len(snapshots) == limit else None
    return HistoryPage(items=items, next_before=next_before)
