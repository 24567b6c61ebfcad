"""What readers get: a thread with whether they like it, its reply tree with their likes, one
comment, and the edit history of either. Everything here is public; deleted things are 404."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.users import get_users
from hub.errors import BadRequest
from hub.forum.categories import list_categories, read_category
from hub.forum.comments import access_comment, comment_rows, comments_out
from hub.forum.models import Revision
from hub.forum.schemas import (
    CategoryOut,
    CommentPage,
    RevisionOut,
    RevisionPage,
    ThreadOut,
    ThreadPage,
)
from hub.forum.threads import (
    access_thread,
    access_visible_thread,
    count_view,
    list_threads,
    thread_view,
)
from hub.forum.urls import thread_id_of
from hub.pagination import decode_cursor, encode_cursor
from hub.social.service import ReactionKind, TargetType, reacted_ids


def _user_id(actor: Actor | None) -> int | None:
    return actor.user_id if actor is not None else None


async def read_thread(session: AsyncSession, actor: Actor | None, thread_id: int) -> ThreadOut:
    return await thread_view(session, actor, await access_visible_thread(session, actor, thread_id))


async def read_comments(
    session: AsyncSession,
    actor: Actor | None,
    thread_id: int,
    *,
    cursor: str | None,
    limit: int,
    start: int | None = None,
) -> CommentPage:
    """A page of the thread's reply tree (depth first), with the reader's likes."""
    await access_visible_thread(session, actor, thread_id)
    page, next_cursor = await comment_rows(
        session, thread_id, cursor=cursor, limit=limit, start=start
    )
    ids = [c.comment_id for c in page if c.comment_id is not None]
    liked = await reacted_ids(session, _user_id(actor), TargetType.comment, ReactionKind.like, ids)
    authors = await get_users(session, [c.author_id for c in page])
    return CommentPage(items=comments_out(page, authors, liked, actor), next_cursor=next_cursor)


def _revision_cursor(cursor: str) -> tuple[Any, int]:
    at, revision_id = decode_cursor(cursor)
    if not isinstance(revision_id, int) or isinstance(revision_id, bool) or at.tzinfo is None:
        raise BadRequest("The cursor is not valid; start again without it.")
    return at, revision_id


async def _revisions(
    session: AsyncSession, where: Any, *, cursor: str | None, limit: int
) -> RevisionPage:
    stmt = select(Revision).where(where)
    order = (col(Revision.created_at), col(Revision.revision_id))
    if cursor:
        stmt = stmt.where(tuple_(*order) < _revision_cursor(cursor))
    rows = list(await session.scalars(stmt.order_by(*(c.desc() for c in order)).limit(limit + 1)))
    page = rows[:limit]
    editors = await get_users(session, [r.editor_id for r in page if r.editor_id is not None])
    items = [
        RevisionOut(
            revision_id=r.revision_id or 0,
            editor=editors.get(r.editor_id) if r.editor_id is not None else None,
            title=r.title,
            body=r.body,
            written_at=r.written_at,
            replaced_at=r.created_at,
        )
        for r in page
    ]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1].created_at, page[-1].revision_id)
    return RevisionPage(items=items, next_cursor=next_cursor)


async def thread_revisions(
    session: AsyncSession, thread_id: int, *, cursor: str | None, limit: int
) -> RevisionPage:
    """Earlier versions of a live thread, newest first."""
    thread = await access_thread(session, thread_id)
    where = col(Revision.thread_id) == thread_id_of(thread)
    return await _revisions(session, where, cursor=cursor, limit=limit)


async def comment_revisions(
    session: AsyncSession, comment_id: int, *, cursor: str | None, limit: int
) -> RevisionPage:
    """Earlier versions of a live comment, newest first."""
    await access_comment(session, comment_id)
    where = col(Revision.comment_id) == comment_id
    return await _revisions(session, where, cursor=cursor, limit=limit)


# --- pages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadPageData:
    """``category`` is None (and ``comments`` empty) when the slug was not the thread's: the
    page then only redirects."""

    thread: ThreadOut
    category: CategoryOut | None
    comments: CommentPage


async def thread_page(
    session: AsyncSession,
    actor: Actor | None,
    thread_id: int,
    *,
    slug: str,
    cursor: str | None,
    start: int | None = None,
    limit: int,
) -> ThreadPageData:
    """Everything ``/t/{id}/{slug}`` shows. A view counts when the slug is the thread's (a
    wrong one is answered with a redirect, which is no view)."""
    thread = await access_visible_thread(session, actor, thread_id)
    if slug != thread.slug:
        view = await thread_view(session, actor, thread)
        return ThreadPageData(thread=view, category=None, comments=CommentPage(items=[]))
    await count_view(session, thread_id)  # also moves thread.view_count (ORM synchronize)
    view = await thread_view(session, actor, thread)
    category = await read_category(session, view.category)
    comments = await read_comments(
        session, actor, thread_id, cursor=cursor, limit=limit, start=start
    )
    return ThreadPageData(thread=view, category=category, comments=comments)


async def category_page(
    session: AsyncSession, slug: str, *, cursor: str | None, limit: int
) -> tuple[CategoryOut, ThreadPage]:
    """``/forum/{slug}``: the category and a page of its threads; 404 for an unknown one."""
    category = await read_category(session, slug)
    page = await list_threads(session, category=slug, cursor=cursor, limit=limit)
    return category, page


async def forum_index(session: AsyncSession, *, limit: int) -> tuple[list[CategoryOut], ThreadPage]:
    """``/forum``: the categories and the latest threads of all of them."""
    return await list_categories(session), await list_threads(
        session, category=None, cursor=None, limit=limit
    )
