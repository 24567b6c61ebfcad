"""Works: make one from images (of a room, of your library, or uploads), read, edit, delete.

Who sees a work (:func:`access_work`, 404 for everyone else, whether it exists or not):

* a published work: everyone, signed in or not;
* a draft: its author only;
* a hidden work (moderation): its author and moderators;
* a deleted work: nobody (the row stays for the ids other rows keep).

Publishing, its discussion thread and the notices to followers are in :mod:`hub.works.publish`;
likes and favorites in :mod:`hub.works.reactions`. Services flush and never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.roles import UserRole, has_role
from hub.accounts.trust import CommunityAction, hit_community_limit
from hub.collab.errors import RoomNotFound
from hub.collab.history import prompt_steps
from hub.db import utcnow
from hub.errors import BadRequest, ValidationFailed
from hub.forum.service import category_slugs
from hub.forum.slugs import slugify
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from hub.storage.backends import Storage
from hub.storage.models import Image
from hub.works import indexing
from hub.works.errors import NotWorkAuthor, WorkNotFound
from hub.works.indexing import search_documents as search_documents
from hub.works.models import Work, WorkContributor, WorkImage, WorkRemixRoom, WorkStatus
from hub.works.schemas import (
    WorkCreatedOut,
    WorkCreateIn,
    WorkListQuery,
    WorkOut,
    WorkPage,
    WorkPatchIn,
)
from hub.works.sources import resolve_sources
from hub.works.timeline import build_timeline
from hub.works.views import cover_urls, summaries, work_id_of, work_out, work_url

SLUG_FALLBACK = "work"
_MAX_WORK_ID = 2**31 - 1


def work_slug(title: str) -> str:
    return slugify(title, fallback=SLUG_FALLBACK)


# --- access --------------------------------------------------------------------------------------


def can_see(work: Work, actor: Actor | None) -> bool:
    if work.deleted_at is not None:
        return False
    if actor is not None and actor.user_id == work.author_id:
        return True
    if work.hidden_at is not None:
        return actor is not None and has_role(actor, UserRole.MODERATOR)
    return work.status == WorkStatus.published


async def get_work(session: AsyncSession, work_id: int) -> Work | None:
    """The row, whatever its state (None for ids that name nothing)."""
    if not 0 < work_id <= _MAX_WORK_ID:
        return None
    return await session.get(Work, work_id)


async def access_work(
    session: AsyncSession, actor: Actor | None, work_id: int, *, for_update: bool = False
) -> Work:
    """The work if ``actor`` may see it; WorkNotFound otherwise (no existence leak)."""
    work: Work | None = None
    if 0 < work_id <= _MAX_WORK_ID:
        query = select(Work).where(col(Work.work_id) == work_id)
        if for_update:
            query = query.with_for_update()
        work = await session.scalar(query)
    if work is None or not can_see(work, actor):
        raise WorkNotFound()
    return work


async def access_own_work(session: AsyncSession, actor: Actor, work_id: int) -> Work:
    """The work for a change by its author: 404 when not visible, 403 for other readers."""
    work = await access_work(session, actor, work_id, for_update=True)
    if work.author_id != actor.user_id:
        raise NotWorkAuthor()
    return work


async def read_work(
    session: AsyncSession, actor: Actor | None, work_id: int, *, storage: Storage
) -> WorkOut:
    return await work_out(
        session, await access_work(session, actor, work_id), actor=actor, storage=storage
    )


# --- making a work -------------------------------------------------------------------------------


async def check_category(session: AsyncSession, category: str | None) -> None:
    if category is not None and category not in await category_slugs(session):
        raise ValidationFailed(
            fields=[
                {"field": "category", "message": "no such category", "type": "unknown_category"}
            ]
        )


async def room_timeline(
    session: AsyncSession, actor: Actor, room_slug: str | None
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The prompt's timeline of the room the images came from and who is credited, when the
    actor may still see that room (an image of your library may come from a room you left:
    then the room's history is not yours to publish)."""
    if room_slug is None:
        return [], {}
    try:
        steps = await prompt_steps(session, actor, room_slug)
    except RoomNotFound:
        return [], {}
    timeline = build_timeline(steps)
    return timeline.entries, timeline.edits


async def set_contributors(
    session: AsyncSession, work: Work, edits: dict[int, int], *, replace: bool
) -> None:
    work_id = work_id_of(work)
    if replace:
        for row in await session.scalars(
            select(WorkContributor).where(col(WorkContributor.work_id) == work_id)
        ):
            await session.delete(row)
        await session.flush()
    credited = {work.author_id: 0, **edits}
    for user_id, count in sorted(credited.items()):
        session.add(WorkContributor(work_id=work_id, user_id=user_id, edits=count))
    await session.flush()


async def remix_parent(session: AsyncSession, room_slug: str | None) -> int | None:
    """The work a room was seeded from by a remix (``hub.works.remix``), if it was."""
    if room_slug is None:
        return None
    row = await session.get(WorkRemixRoom, room_slug)
    return row.parent_work_id if row is not None else None


def _new_work(actor: Actor, body: WorkCreateIn, cover: Image, room: str | None) -> Work:
    now = utcnow()
    return Work(
        author_id=actor.user_id,
        title=body.title,
        slug=work_slug(body.title),
        description=body.description,
        status=WorkStatus.draft.value,
        category=body.category,
        room_id=room,
        model=cover.model,
        prompt=cover.prompt,
        negative_prompt=cover.negative_prompt,
        params={**(cover.params or {}), "seed": int(cover.seed)},
        cover_image_id=cover.image_id,
        created_at=now,
        updated_at=now,
    )


def _check_thread_choice(body: WorkCreateIn) -> None:
    if body.thread_id is not None and body.status != WorkStatus.published:
        raise ValidationFailed(
            fields=[
                {
                    "field": "thread_id",
                    "message": "a draft has no discussion yet; send thread_id when publishing",
                    "type": "draft_thread",
                }
            ]
        )


async def create_work(
    session: AsyncSession,
    actor: Actor,
    storage: Storage,
    body: WorkCreateIn,
    *,
    limiter: RateLimiter | None,
) -> WorkCreatedOut:
    """A draft (or, with ``status: published``, a published work with its discussion) from the
    images of ``body``; 404 for images the actor may not see, 403 for images it sees but may
    not publish, 422 for a category or a thread choice that names nothing."""
    from hub.works.publish import publish_row  # publish imports this module

    _check_thread_choice(body)
    if limiter is not None:
        await hit_community_limit(session, actor, limiter, CommunityAction.work)
    await check_category(session, body.category)
    sources = await resolve_sources(
        session, actor, storage, image_ids=body.image_ids, uploads=body.uploads
    )
    work = _new_work(actor, body, sources.images[0], sources.room_slug)
    # A remix room's works name the room's parent: it existed before them, so no cycle.
    work.parent_work_id = await remix_parent(session, sources.room_slug)
    work.prompt_history, edits = await room_timeline(session, actor, sources.room_slug)
    session.add(work)
    await session.flush()
    for position, image in enumerate(sources.images):
        session.add(WorkImage(work_id=work_id_of(work), image_id=image.image_id, position=position))
    await set_contributors(session, work, edits, replace=False)
    if body.status == WorkStatus.published:
        await publish_row(session, actor, work, thread_id=body.thread_id, storage=storage)
    else:
        await indexing.index_work(session, work, storage=storage)
    return WorkCreatedOut(
        id=work_id_of(work),
        work_id=work_id_of(work),
        url=work_url(work),
        thread_id=work.thread_id,
        status=WorkStatus(work.status).value,
    )


# --- changing a work -----------------------------------------------------------------------------


async def update_work(
    session: AsyncSession, actor: Actor, work_id: int, body: WorkPatchIn, *, storage: Storage
) -> WorkOut:
    """Title, description and category; a new title gives a new slug (the old URL answers 301
    to the new one, since pages find a work by its id)."""
    work = await access_own_work(session, actor, work_id)
    changes = body.model_fields_set
    if "category" in changes:
        await check_category(session, body.category)
        work.category = body.category
    if body.title is not None:
        work.title, work.slug = body.title, work_slug(body.title)
    if body.description is not None:
        work.description = body.description
    work.updated_at = utcnow()
    await session.flush()
    await indexing.index_work(session, work, storage=storage)
    return await work_out(session, work, actor=actor, storage=storage)


async def delete_work(session: AsyncSession, actor: Actor, work_id: int) -> None:
    """Soft delete: the work is a 404 from now on and leaves feeds and search; its discussion
    thread stays (it is the forum's, with other people's comments in it)."""
    from hub.works.hot import refresh_hot

    work = await access_own_work(session, actor, work_id)
    work.deleted_at = work.updated_at = utcnow()
    await session.flush()
    await indexing.unindex_work(session, work)
    await refresh_hot(session, work_id)


async def set_work_hidden(
    session: AsyncSession,
    work_id: int,
    *,
    hidden: bool,
    reason: str | None,
    held: bool = False,
    storage: Storage | None,
) -> Work:
    """Hides (with the reason its author sees), holds for review (``held``) or shows again a
    work: feeds (their listed predicate), search and hot scores follow. Idempotent; the caller
    (moderation) checks the permission and audits. WorkNotFound for a missing or deleted work."""
    from hub.works.hot import refresh_hot

    work = await get_work(session, work_id)
    if work is None or work.deleted_at is not None:
        raise WorkNotFound()
    if hidden:
        work.hidden_at = work.hidden_at or utcnow()
        work.hidden_reason, work.held = (None, True) if held else (reason, False)
    else:
        work.hidden_at, work.hidden_reason, work.held = None, None, False
    await session.flush()
    await indexing.index_work(session, work, storage=storage)
    await refresh_hot(session, work_id)
    return work


async def count_view(session: AsyncSession, actor: Actor | None, work: Work) -> None:
    """One more view of a published work by someone other than its author."""
    if work.status != WorkStatus.published or (actor and actor.user_id == work.author_id):
        return
    await session.execute(
        update(Work)
        .where(col(Work.work_id) == work_id_of(work))
        .values(view_count=col(Work.view_count) + 1)
    )


# --- your works ----------------------------------------------------------------------------------


def _after(cursor: str) -> tuple[datetime, int]:
    created, work_id = decode_cursor(cursor)
    if created.tzinfo is None or not isinstance(work_id, int) or isinstance(work_id, bool):
        raise BadRequest("The cursor is not valid; start again without it.")
    return created, work_id


async def list_my_works(
    session: AsyncSession, actor: Actor, query: WorkListQuery, *, storage: Storage
) -> WorkPage:
    """Your works, drafts included, newest first, cursor-paged on ``(created_at, work_id)``."""
    stmt = select(Work).where(col(Work.author_id) == actor.user_id, col(Work.deleted_at).is_(None))
    if query.status is not None:
        stmt = stmt.where(col(Work.status) == query.status)
    if query.cursor:
        created, last_id = _after(query.cursor)
        stmt = stmt.where(
            or_(
                col(Work.created_at) < created,
                and_(col(Work.created_at) == created, col(Work.work_id) < last_id),
            )
        )
    stmt = stmt.order_by(col(Work.created_at).desc(), col(Work.work_id).desc())
    rows = list(await session.scalars(stmt.limit(query.limit + 1)))
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        next_cursor = encode_cursor(rows[-1].created_at, work_id_of(rows[-1]))
    covers = await cover_urls(session, storage, rows)
    return WorkPage(items=summaries(rows, covers), next_cursor=next_cursor)


async def works_by_author(session: AsyncSession, author_id: int) -> list[tuple[Work, list[str]]]:
    """Every work of ``author_id`` that is not deleted, with its image ids in order, oldest
    first (``hub user export``)."""
    works = (
        await session.scalars(
            select(Work)
            .where(col(Work.author_id) == author_id, col(Work.deleted_at).is_(None))
            .order_by(col(Work.work_id))
        )
    ).all()
    result = []
    for work in works:
        images = await session.scalars(
            select(col(WorkImage.image_id))
            .where(col(WorkImage.work_id) == work.work_id)
            .order_by(col(WorkImage.position))
        )
        result.append((work, list(images)))
    return result
