"""Threads: start, read, list, edit (history kept), soft delete, lock and pin, view counts.

A deleted thread is a 404 for everyone (its row stays, with its comments, for moderation and for
the ids other rows keep). Lock and pin are moderator actions (``require_role``). A thread hidden
by moderators (or held for pre-review) is a 404 for everyone but its author and moderators and
leaves lists and search (:func:`set_thread_hidden`, called by :mod:`hub.moderation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.roles import UserRole, has_role, require_role
from hub.accounts.trust import (
    CommunityAction,
    held_for_review,
    hit_community_limit,
    report_held,
)
from hub.accounts.users import get_users
from hub.db import utcnow
from hub.errors import BadRequest
from hub.forum.categories import get_category
from hub.forum.errors import CategoryNotFound, ThreadNotFound
from hub.forum.indexing import index_thread, unindex_thread
from hub.forum.markdown import render_markdown
from hub.forum.models import Category, Revision, Thread
from hub.forum.notices import tell_mentions
from hub.forum.rules import check_body, check_title, require_author_or_moderator, unknown
from hub.forum.schemas import ThreadOut, ThreadPage, ThreadSummary
from hub.forum.slugs import slugify
from hub.forum.urls import thread_id_of, thread_url
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from hub.social.service import ReactionKind, TargetType, reacted_ids


@dataclass(frozen=True)
class ThreadRef:
    """What other domains keep of a thread (works link their discussion by it)."""

    id: int
    slug: str
    url: str
    title: str
    author_id: int
    locked: bool


def ref_of(thread: Thread) -> ThreadRef:
    thread_id = thread_id_of(thread)
    return ThreadRef(
        id=thread_id,
        slug=thread.slug,
        url=thread_url(thread_id, thread.slug),
        title=thread.title,
        author_id=thread.author_id,
        locked=thread.locked,
    )


# --- reads -------------------------------------------------------------------------------------


async def get_thread(session: AsyncSession, thread_id: int) -> Thread | None:
    """The thread unless it is missing or deleted."""
    thread = await session.get(Thread, thread_id)
    if thread is None or thread.deleted_at is not None:
        return None
    return thread


async def access_thread(session: AsyncSession, thread_id: int) -> Thread:
    """The thread, or 404 (``ThreadNotFound``) when it is missing or deleted."""
    thread = await get_thread(session, thread_id)
    if thread is None:
        raise ThreadNotFound()
    return thread


def can_see_thread(thread: Thread, actor: Actor | None) -> bool:
    """Live threads are public (no private categories), unless hidden: then their author's and
    moderators' only."""
    if thread.hidden_at is None:
        return True
    return actor is not None and (
        actor.user_id == thread.author_id or has_role(actor, UserRole.MODERATOR)
    )


async def access_visible_thread(
    session: AsyncSession, actor: Actor | None, thread_id: int
) -> Thread:
    """The thread if ``actor`` may see it; 404 (``ThreadNotFound``) otherwise."""
    thread = await access_thread(session, thread_id)
    if not can_see_thread(thread, actor):
        raise ThreadNotFound()
    return thread


async def visible_thread(session: AsyncSession, actor: Actor | None, thread_id: int) -> ThreadRef:
    """The thread as ``actor`` (None: a visitor) may see it; 404 when missing, deleted or hidden
    from them."""
    return ref_of(await access_visible_thread(session, actor, thread_id))


async def _category_slug(session: AsyncSession, category_id: int) -> str:
    category = await session.get(Category, category_id)
    return category.slug if category is not None else ""


async def thread_view(session: AsyncSession, actor: Actor | None, thread: Thread) -> ThreadOut:
    """The thread as ``actor`` sees it (with whether they like it)."""
    user_id = actor.user_id if actor is not None else None
    thread_id = thread_id_of(thread)
    liked = await reacted_ids(session, user_id, TargetType.thread, ReactionKind.like, [thread_id])
    return await thread_out(session, thread, liked=thread_id in liked)


async def thread_out(session: AsyncSession, thread: Thread, *, liked: bool) -> ThreadOut:
    authors = await get_users(session, [thread.author_id])
    thread_id = thread_id_of(thread)
    return ThreadOut(
        thread_id=thread_id,
        category=await _category_slug(session, thread.category_id),
        title=thread.title,
        slug=thread.slug,
        url=thread_url(thread_id, thread.slug),
        author=authors.get(thread.author_id),
        body=thread.body,
        body_html=str(render_markdown(thread.body)),
        locked=thread.locked,
        pinned=thread.pinned,
        comment_count=thread.comment_count,
        like_count=thread.like_count,
        view_count=thread.view_count,
        liked=liked,
        created_at=thread.created_at,
        last_activity_at=thread.last_activity_at,
        edited_at=thread.edited_at,
        hidden=thread.hidden_at is not None,
        held=thread.held,
        hidden_reason=thread.hidden_reason,
    )


def _list_cursor(cursor: str) -> tuple[Any, bool, int]:
    at, key = decode_cursor(cursor)
    valid = (
        isinstance(key, list)
        and len(key) == 2
        and key[0] in (0, 1)
        and isinstance(key[1], int)
        and not isinstance(key[1], bool)
        and at.tzinfo is not None
    )
    if not valid:
        raise BadRequest("The cursor is not valid; start again without it.")
    return at, bool(key[0]), int(key[1])


async def list_threads(
    session: AsyncSession, *, category: str | None, cursor: str | None, limit: int
) -> ThreadPage:
    """Live threads, pinned first, then by latest activity (a new comment moves a thread up);
    cursor-paged on (pinned, last_activity_at, thread_id). An unknown category is a 404."""
    stmt = select(Thread).where(col(Thread.deleted_at).is_(None), col(Thread.hidden_at).is_(None))
    slugs: dict[int, str] = {}
    if category is not None:
        found = await get_category(session, category)
        if found is None:
            raise CategoryNotFound()
        stmt = stmt.where(col(Thread.category_id) == found.category_id)
        slugs[found.category_id or 0] = found.slug
    order = (col(Thread.pinned), col(Thread.last_activity_at), col(Thread.thread_id))
    if cursor:
        at, pinned, thread_id = _list_cursor(cursor)
        stmt = stmt.where(tuple_(*order) < (pinned, at, thread_id))
    stmt = stmt.order_by(*(c.desc() for c in order)).limit(limit + 1)
    threads = list(await session.scalars(stmt))
    page = threads[:limit]
    items = await summaries(session, page, slugs)
    next_cursor = None
    if len(threads) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last.last_activity_at, [int(last.pinned), thread_id_of(last)])
    return ThreadPage(items=items, next_cursor=next_cursor)


async def summaries(
    session: AsyncSession, threads: list[Thread], slugs: dict[int, str] | None = None
) -> list[ThreadSummary]:
    """List items for ``threads`` with their authors and category slugs (two queries)."""
    slugs = dict(slugs or {})
    missing = {t.category_id for t in threads} - set(slugs)
    if missing:
        rows = await session.execute(
            select(col(Category.category_id), col(Category.slug)).where(
                col(Category.category_id).in_(missing)
            )
        )
        slugs.update({c: slug for c, slug in rows.all() if c is not None})
    authors = await get_users(session, [t.author_id for t in threads])
    return [
        ThreadSummary(
            thread_id=thread_id_of(t),
            category=slugs.get(t.category_id, ""),
            title=t.title,
            url=thread_url(thread_id_of(t), t.slug),
            author=authors.get(t.author_id),
            locked=t.locked,
            pinned=t.pinned,
            comment_count=t.comment_count,
            like_count=t.like_count,
            view_count=t.view_count,
            created_at=t.created_at,
            last_activity_at=t.last_activity_at,
        )
        for t in threads
    ]


# --- writes ------------------------------------------------------------------------------------


async def create_thread(
    session: AsyncSession,
    actor: Actor,
    *,
    category: str,
    title: str,
    body: str,
    limiter: RateLimiter | None,
) -> ThreadRef:
    """Starts a thread in ``category`` (422 ``unknown_category`` when there is none). With a
    ``limiter`` the actor's thread rate limit applies (429); None: the caller limits (a work's
    discussion thread counts against the work limit)."""
    title = check_title(title)
    body = check_body(session, body)
    found = await get_category(session, category)
    if found is None or found.category_id is None:
        raise unknown("category", "no such category", "unknown_category")
    if limiter is not None:
        await hit_community_limit(session, actor, limiter, CommunityAction.thread)
    now = utcnow()
    thread = Thread(
        category_id=found.category_id,
        author_id=actor.user_id,
        title=title,
        slug=slugify(title),
        body=body,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    # A work's discussion thread (no limiter) follows its work instead of being held itself.
    held = limiter is not None and await held_for_review(session, actor)
    if held:
        thread.hidden_at, thread.held = now, True
    session.add(thread)
    await session.flush()
    await index_thread(session, thread, with_comments=False)
    ref = ref_of(thread)
    if held:
        await report_held(session, "thread", ref.id)
    await tell_mentions(
        session, actor, body=body, url=ref.url, subject_type="thread", subject_id=ref.id
    )
    return ref


async def _keep_revision(session: AsyncSession, thread: Thread, editor_id: int) -> None:
    session.add(
        Revision(
            thread_id=thread.thread_id,
            editor_id=editor_id,
            title=thread.title,
            body=thread.body,
            written_at=thread.edited_at or thread.created_at,
        )
    )


async def edit_thread(
    session: AsyncSession,
    actor: Actor,
    thread_id: int,
    *,
    title: str | None = None,
    body: str | None = None,
) -> ThreadOut:
    """The author (while the thread is open) or a moderator changes the title and/or body; the
    version it replaces goes to the edit history. The slug follows the title."""
    thread = await access_thread(session, thread_id)
    require_author_or_moderator(actor, thread.author_id, locked=thread.locked, to="edit it")
    new_title = check_title(title) if title is not None else thread.title
    new_body = check_body(session, body) if body is not None else thread.body
    if (new_title, new_body) != (thread.title, thread.body):
        await _keep_revision(session, thread, actor.user_id)
        retitled = new_title != thread.title
        thread.title, thread.body, thread.slug = new_title, new_body, slugify(new_title)
        thread.edited_at = thread.updated_at = utcnow()
        await session.flush()
        await index_thread(session, thread, with_comments=retitled)
    return await thread_view(session, actor, thread)


async def delete_thread(session: AsyncSession, actor: Actor, thread_id: int) -> Thread:
    """Soft delete by the author (while open) or a moderator; afterwards the thread is a 404."""
    thread = await access_thread(session, thread_id)
    require_author_or_moderator(actor, thread.author_id, locked=thread.locked, to="delete it")
    thread.deleted_at = thread.updated_at = utcnow()
    await session.flush()
    await unindex_thread(session, thread)
    return thread


async def set_flag(
    session: AsyncSession, actor: Actor, thread_id: int, *, flag: str, on: bool
) -> ThreadOut:
    """Locks or pins (``flag``: "locked" or "pinned") a thread; moderators only (403)."""
    if flag not in ("locked", "pinned"):
        raise ValueError(f"not a thread flag: {flag}")
    require_role(actor, UserRole.MODERATOR, to=f"{'lock' if flag == 'locked' else 'pin'} threads")
    thread = await access_thread(session, thread_id)
    setattr(thread, flag, on)
    thread.updated_at = utcnow()
    await session.flush()
    return await thread_view(session, actor, thread)


async def set_thread_hidden(
    session: AsyncSession, thread_id: int, *, hidden: bool, reason: str | None, held: bool = False
) -> Thread:
    """Hides (with the reason its author sees), holds for review (``held``) or shows again a
    live thread: lists and search follow. Idempotent; the caller (moderation) checks the
    permission and audits. 404 for a missing or deleted thread."""
    thread = await access_thread(session, thread_id)
    if hidden:
        thread.hidden_at = thread.hidden_at or utcnow()
        thread.hidden_reason, thread.held = (None, True) if held else (reason, False)
    else:
        thread.hidden_at, thread.hidden_reason, thread.held = None, None, False
    await session.flush()
    await index_thread(session, thread, with_comments=True)
    return thread


async def count_view(session: AsyncSession, thread_id: int) -> None:
    """One more view, as one statement (exact under concurrent page loads)."""
    await session.execute(
        update(Thread)
        .where(col(Thread.thread_id) == thread_id)
        .values(view_count=col(Thread.view_count) + 1)
    )


async def touch_for_comment(session: AsyncSession, thread_id: int, delta: int) -> None:
    """Moves the thread's comment counter by ``delta``; a new comment also bumps its activity."""
    values: dict[str, Any] = {"comment_count": col(Thread.comment_count) + delta}
    if delta > 0:
        values["last_activity_at"] = utcnow()
    await session.execute(update(Thread).where(col(Thread.thread_id) == thread_id).values(**values))
