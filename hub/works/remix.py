"""The remix chain: "Remix" on a published work opens a new room seeded from it, every work made
from that room records the work as its parent, and the lineage is read both ways.

* **Remix** (:func:`remix_work`): a new private room of the remixer's (the room creation limit
  applies), a ``work_remix_rooms`` row naming the parent, and, after the commit, the work's final
  prompt, negative prompt and parameters written into the room's document by
  ``hub.collab.seeding`` (the same path as "use a template in a room"). With
  ``use_image_as_source`` the work's cover is copied into the remixer's uploads and named in the
  room's ``params.source_image`` (``hub.collab.seeding.SOURCE_PARAM``). Only a published work
  that is neither hidden nor deleted can be remixed: anything else is 404, as for a stranger.
* **Parent** (:func:`hub.works.service.create_work`): a work whose images come from a remix room
  gets the room's parent as ``parent_work_id``. A parent always existed before its child, so a
  chain only ever points at older works and has no cycle.
* **Count and notice** (:func:`count_published_remix`): the first publication of a remix moves
  its parent's ``remix_count`` (``n = n + 1`` in the same transaction, then the hot score) and
  tells the parent's author (a ``remix`` notice). Unpublishing or deleting the remix later does
  not take it back: the count says how many remixes were ever published (ADR 0018).
* **Lineage** (:func:`lineage`): the ancestors (parent first) and the published remixes (newest
  first), each side cursor-paged. A work of the chain the reader may not see (deleted, hidden,
  made a draft again) keeps its place as ``{"id", "removed": true}``, so the chain never breaks.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.users import get_users
from hub.collab.rooms import create_room
from hub.collab.seeding import SOURCE_PARAM, RoomSeed, seed_room_document, source_param
from hub.errors import BadRequest
from hub.notifications.service import NotificationKind, notify
from hub.outbox import after_commit
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from hub.storage.backends import Storage
from hub.storage.keys import media_url
from hub.storage.service import copy_image_to_upload, image_links
from hub.works.errors import WorkImageGone, WorkNotFound
from hub.works.hot import refresh_hot
from hub.works.models import Work, WorkRemixRoom, WorkStatus
from hub.works.schemas import (
    LineageItem,
    LineageOut,
    LineageQuery,
    LineageWorkOut,
    RemixIn,
    RemixOut,
    RemovedWorkOut,
)
from hub.works.service import access_work, can_see
from hub.works.views import person, work_id_of, work_images, work_url

if TYPE_CHECKING:
    from hub.collab.component import RoomsComponent

ROOM_TITLE_CHARS = 120  # the rooms' title limit
# Ancestors read at most this deep: chains are built one remix at a time, and a reader pages
# ancestors; a cursor deeper than this is refused.
MAX_DEPTH = 100_000
_SIZE = re.compile(r"[0-9]{2,5}x[0-9]{2,5}")
_W = Work.metadata.tables[Work.__tablename__].c


# --- remix ---------------------------------------------------------------------------------------


def room_params(work: Work) -> dict[str, Any]:
    """The work's generation parameters as a room document holds them (``rooms.room.PARAM_KEYS``:
    ``size`` is ``"{width}x{height}"``); values the room would refuse are left out."""
    raw = dict(work.params or {})
    params: dict[str, Any] = {}
    if work.model:
        params["model"] = work.model
    width, height = raw.get("width"), raw.get("height")
    if _whole(width) and _whole(height):
        params["size"] = f"{width}x{height}"
    elif isinstance(raw.get("size"), str) and _SIZE.fullmatch(raw["size"]):
        params["size"] = raw["size"]  # an upload's own parameters may say it this way
    for key in ("steps", "seed", "count"):
        if _whole(raw.get(key)):
            params[key] = raw[key]
    strength = raw.get("strength")
    if (
        isinstance(strength, int | float)
        and not isinstance(strength, bool)
        and 0.0 <= strength <= 1.0
    ):
        params["strength"] = float(strength)
    return params


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


async def _source(
    session: AsyncSession, actor: Actor, storage: Storage, work: Work
) -> tuple[str, dict[str, Any]]:
    """The work's cover (or first image left) copied into the actor's uploads: its upload id
    and the room's ``source_image`` value."""
    images = await work_images(session, work_id_of(work))
    if not images:
        raise WorkImageGone()
    cover = next((i for i in images if i.image_id == work.cover_image_id), images[0])
    upload = await copy_image_to_upload(session, actor, storage, cover.image_id)
    value = source_param(
        ref=upload.key,
        url=media_url(storage, upload.key),
        width=upload.width,
        height=upload.height,
    )
    return upload.upload_id, value


async def remix_work(
    session: AsyncSession,
    actor: Actor,
    work_id: int,
    *,
    data: RemixIn,
    storage: Storage,
    limiter: RateLimiter,
    live: RoomsComponent,
) -> RemixOut:
    """A new room of the actor's seeded from the published work ``work_id`` (404 for drafts,
    hidden, deleted and unknown works; 409 ``work_image_gone`` for a source image that is gone)."""
    work = await access_work(session, actor, work_id)
    if work.status != WorkStatus.published or work.hidden_at is not None:
        raise WorkNotFound()
    title = f"Remix of {work.title}"[:ROOM_TITLE_CHARS].strip()
    room = await create_room(session, actor, limiter=limiter, title=title)
    params = room_params(work)
    upload_id: str | None = None
    if data.use_image_as_source:
        upload_id, params[SOURCE_PARAM] = await _source(session, actor, storage, work)
    session.add(
        WorkRemixRoom(
            room_id=room.slug,
            parent_work_id=work_id,
            remixer_id=actor.user_id,
            source_upload_id=upload_id,
        )
    )
    await session.flush()
    seed = RoomSeed(prompt=work.prompt, negative_prompt=work.negative_prompt, params=params)

    async def write() -> None:
        await seed_room_document(live, room.slug, seed)

    after_commit(session, write)
    return RemixOut(room=room.slug)


async def count_published_remix(session: AsyncSession, actor: Actor, work: Work) -> None:
    """The first publication of ``work``, a remix: one more on its parent's count, and a notice
    to the parent's author (nobody is told about their own remix)."""
    parent_id = work.parent_work_id
    if parent_id is None:
        return
    counted = await session.execute(
        update(Work)
        .where(col(Work.work_id) == parent_id)
        .values(remix_count=col(Work.remix_count) + 1)
        .returning(col(Work.author_id), col(Work.deleted_at))
    )
    row = counted.first()
    if row is None:  # pragma: no cover - the foreign key keeps the parent's row
        return
    await refresh_hot(session, parent_id)
    if row.deleted_at is None:
        await notify(
            session,
            recipient_id=row.author_id,
            kind=NotificationKind.remix,
            actor_id=actor.user_id,
            text=f"{actor.display_name} remixed your work: “{work.title}”",
            url=work_url(work),
            subject_type="work",
            subject_id=str(work_id_of(work)),
        )


# --- lineage -------------------------------------------------------------------------------------


async def _items(
    session: AsyncSession, actor: Actor | None, ids: list[int], storage: Storage
) -> list[LineageItem]:
    """The works ``ids`` in that order, as the reader may see them."""
    if not ids:
        return []
    rows = {
        work_id_of(w): w for w in await session.scalars(select(Work).where(_W.work_id.in_(ids)))
    }
    shown = [rows[i] for i in ids if i in rows and can_see(rows[i], actor)]
    authors = await get_users(session, {w.author_id for w in shown})
    covers = await image_links(
        session, [w.cover_image_id for w in shown if w.cover_image_id], storage
    )
    items: list[LineageItem] = []
    for work_id in ids:
        work = rows.get(work_id)
        author = authors.get(work.author_id) if work is not None else None
        if work is None or author is None or not can_see(work, actor):
            items.append(RemovedWorkOut(id=work_id))
            continue
        cover = covers.get(work.cover_image_id) if work.cover_image_id else None
        items.append(
            LineageWorkOut(
                id=work_id,
                title=work.title,
                url=work_url(work),
                author=person(author),
                cover_url=cover.thumb_url if cover is not None else None,
                remix_count=work.remix_count,
                published_at=work.published_at,
            )
        )
    return items


def _depth_cursor(cursor: str) -> tuple[int, int]:
    """(depth, work id) of the last ancestor a page showed."""
    _, value = decode_cursor(cursor)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 0 < value[0] < MAX_DEPTH
    ):
        raise BadRequest("The cursor is not valid; start again without it.")
    return value[0], value[1]


async def _ancestors(
    session: AsyncSession, work: Work, *, after: int, limit: int
) -> tuple[list[int], str | None]:
    """The ids of the ancestors at depths ``after + 1 ..`` (the parent is depth 1), at most
    ``limit``, and the next page's cursor. One recursive query up the chain (SQLite and
    Postgres); the depth bound stops it even on a chain someone broke by hand."""
    start = select(_W.work_id, _W.parent_work_id, _W.created_at, literal(0).label("depth"))
    base = start.where(_W.work_id == work_id_of(work)).cte("chain", recursive=True)
    step = (
        select(_W.work_id, _W.parent_work_id, _W.created_at, base.c.depth + 1)
        .join(base, _W.work_id == base.c.parent_work_id)
        .where(base.c.depth <= after + limit)
    )
    chain = base.union_all(step)
    rows = (
        await session.execute(
            select(chain.c.work_id, chain.c.created_at, chain.c.depth)
            .where(chain.c.depth > after)
            .order_by(chain.c.depth)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    cursor = encode_cursor(last.created_at, [last.depth, last.work_id]) if last else None
    return [row.work_id for row in rows], cursor


async def _remixes(
    session: AsyncSession, work_id: int, *, cursor: str | None, limit: int
) -> tuple[list[int], str | None]:
    """The ids of the remixes ever published (newest first by first publication), at most
    ``limit``, and the next page's cursor."""
    stmt = select(_W.work_id, _W.published_at).where(
        _W.parent_work_id == work_id, _W.published_at.is_not(None)
    )
    if cursor is not None:
        at, last_id = decode_cursor(cursor)
        if at.tzinfo is None or not isinstance(last_id, int) or isinstance(last_id, bool):
            raise BadRequest("The cursor is not valid; start again without it.")
        stmt = stmt.where(
            or_(_W.published_at < at, and_(_W.published_at == at, _W.work_id < last_id))
        )
    stmt = stmt.order_by(_W.published_at.desc(), _W.work_id.desc()).limit(limit + 1)
    rows = (await session.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    published: datetime | None = rows[-1].published_at if rows else None
    next_cursor = encode_cursor(published, rows[-1].work_id) if more and published else None
    return [row.work_id for row in rows], next_cursor


async def lineage(
    session: AsyncSession,
    actor: Actor | None,
    work_id: int,
    query: LineageQuery,
    *,
    storage: Storage,
) -> LineageOut:
    """The ancestors and remixes of a work the actor may see (404 otherwise)."""
    work = await access_work(session, actor, work_id)
    paging = query.ancestors_cursor is not None or query.remixes_cursor is not None
    ancestor_ids: list[int] = []
    ancestors_next: str | None = None
    if not paging or query.ancestors_cursor is not None:
        after = 0
        if query.ancestors_cursor is not None:
            after, _ = _depth_cursor(query.ancestors_cursor)
        ancestor_ids, ancestors_next = await _ancestors(
            session, work, after=after, limit=query.limit
        )
    remix_ids: list[int] = []
    remixes_next: str | None = None
    if not paging or query.remixes_cursor is not None:
        remix_ids, remixes_next = await _remixes(
            session, work_id, cursor=query.remixes_cursor, limit=query.limit
        )
    items = await _items(session, actor, [*ancestor_ids, *remix_ids], storage)
    return LineageOut(
        ancestors=items[: len(ancestor_ids)],
        remixes=items[len(ancestor_ids) :],
        ancestors_next=ancestors_next,
        remixes_next=remixes_next,
        remix_count=work.remix_count,
    )
