"""Publishing and unpublishing a work.

Publishing makes the work public and gives it a discussion: a thread of its own in its category
(``forum.create_thread``; ``HUB_WORKS_DEFAULT_CATEGORY`` when the work has none), or a comment
in an existing thread the author chose (``forum.add_comment``: 404 for a thread the author may
not see, 409 when it is locked). The thread's body shows the cover and links the artwork page.
The prompt's timeline is read again from the room, so it holds every edit up to publication.

The first publication also tells the author's followers (``new_work`` notices) and, for a
remix, counts it on its parent and tells the parent's author (``hub.works.remix``). Unpublishing
makes the work a draft again; its thread stays (it is the forum's, with other people's comments),
and publishing again reuses it and tells nobody twice. Everything happens in the caller's
transaction; the forum's rate limits are not counted (``limiter=None``): publishing counts
against the work limit.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.accounts.trust import (
    CommunityAction,
    held_for_review,
    hit_community_limit,
    report_held,
)
from hub.db import settings_of, utcnow
from hub.errors import Conflict
from hub.forum.service import add_comment, create_thread, visible_thread
from hub.notifications.service import NotificationKind, notify_many
from hub.ratelimit import RateLimiter
from hub.social.service import follower_ids
from hub.storage.backends import Storage
from hub.storage.keys import media_url
from hub.storage.service import get_image
from hub.works import indexing
from hub.works.hot import refresh_hot
from hub.works.models import Work, WorkStatus
from hub.works.remix import count_published_remix
from hub.works.schemas import PublishIn, WorkOut
from hub.works.service import (
    access_own_work,
    check_category,
    room_timeline,
    set_contributors,
)
from hub.works.views import work_id_of, work_out, work_url


def _absolute(session: AsyncSession, url: str) -> str:
    if url.startswith(("http://", "https://")):
        return url
    return settings_of(session).public_url.rstrip("/") + url


def _markdown_text(value: str) -> str:
    # A title inside Markdown link or image text: brackets and backslashes would end it early.
    return "".join(f"\\{ch}" if ch in "[]\\*_`<>" else ch for ch in value)


async def discussion_body(session: AsyncSession, work: Work, storage: Storage | None) -> str:
    """The thread's (or the comment's) Markdown: the cover, the description and the link."""
    page = _absolute(session, work_url(work))
    lines: list[str] = []
    if storage is not None and work.cover_image_id is not None:
        cover = await get_image(session, work.cover_image_id)
        if cover is not None:
            image = _absolute(session, media_url(storage, cover.thumb_key))
            lines.append(f"[![{_markdown_text(work.title)}](<{image}>)](<{page}>)")
    if work.description:
        lines.append(work.description)
    lines.append(f"[See the work, its prompt and how it came to be](<{page}>)")
    return "\n\n".join(lines)


async def _open_discussion(
    session: AsyncSession,
    actor: Actor,
    work: Work,
    *,
    thread_id: int | None,
    storage: Storage | None,
) -> None:
    if work.thread_id is not None:
        if thread_id is not None and thread_id != work.thread_id:
            raise Conflict("This work has its discussion already.", thread_id=work.thread_id)
        return
    body = await discussion_body(session, work, storage)
    if thread_id is not None:
        await visible_thread(session, actor, thread_id)
        await add_comment(session, actor, thread_id, body=body, limiter=None)
        work.thread_id = thread_id
        return
    category = work.category or settings_of(session).works_default_category
    thread = await create_thread(
        session, actor, category=category, title=work.title, body=body, limiter=None
    )
    work.thread_id = thread.id


async def _tell_followers(session: AsyncSession, actor: Actor, work: Work) -> None:
    followers = await follower_ids(session, actor.user_id)
    await notify_many(
        session,
        followers,
        kind=NotificationKind.new_work,
        actor_id=actor.user_id,
        text=f"{actor.display_name} published “{work.title}”",
        url=work_url(work),
        subject_type="work",
        subject_id=str(work_id_of(work)),
    )


async def publish_row(
    session: AsyncSession,
    actor: Actor,
    work: Work,
    *,
    thread_id: int | None,
    storage: Storage | None,
) -> None:
    """Publish ``work`` (the author's, checked by the caller)."""
    if work.status == WorkStatus.published:
        if thread_id is not None and thread_id != work.thread_id:
            raise Conflict("This work has its discussion already.", thread_id=work.thread_id)
        return
    if work.room_id is not None:
        timeline, edits = await room_timeline(session, actor, work.room_id)
        if timeline:
            work.prompt_history = timeline
            await set_contributors(session, work, edits, replace=True)
    await _open_discussion(session, actor, work, thread_id=thread_id, storage=storage)
    first_time = work.published_at is None
    now = utcnow()
    # Pre-review: a new account's first publication waits for a moderator (hub.moderation).
    held = first_time and await held_for_review(session, actor)
    work.status = WorkStatus.published.value
    work.published_at = work.published_at or now
    work.updated_at = now
    if held:
        work.hidden_at, work.held = now, True
    await session.flush()
    if first_time and not held:
        await _tell_followers(session, actor, work)
        await count_published_remix(session, actor, work)
    await indexing.index_work(session, work, storage=storage)
    await refresh_hot(session, work_id_of(work))
    if held:
        await report_held(session, "work", work_id_of(work))


async def publish_work(
    session: AsyncSession,
    actor: Actor,
    work_id: int,
    body: PublishIn,
    *,
    storage: Storage,
    limiter: RateLimiter | None,
) -> WorkOut:
    """Publish your draft (publishing a published work changes nothing)."""
    work = await access_own_work(session, actor, work_id)
    if work.status != WorkStatus.published:
        if limiter is not None:
            await hit_community_limit(session, actor, limiter, CommunityAction.work)
        if "category" in body.model_fields_set:
            await check_category(session, body.category)
            work.category = body.category
    await publish_row(session, actor, work, thread_id=body.thread_id, storage=storage)
    return await work_out(session, work, actor=actor, storage=storage)


async def unpublish_work(
    session: AsyncSession, actor: Actor, work_id: int, *, storage: Storage
) -> WorkOut:
    """Back to a draft: out of feeds, search and the sitemap; the URL answers 404 to others."""
    work = await access_own_work(session, actor, work_id)
    if work.status == WorkStatus.published:
        work.status = WorkStatus.draft.value
        work.updated_at = utcnow()
        await session.flush()
        await indexing.index_work(session, work, storage=storage)
        await refresh_hot(session, work_id)
    return await work_out(session, work, actor=actor, storage=storage)
