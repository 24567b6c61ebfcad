"""Comments: the reply tree of a thread, paged depth first, with edits (history kept) and soft
deletes that keep a comment's place for the replies under it (docs/forum.md, "Comments")."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.schemas import UserPublic
from hub.accounts.trust import CommunityAction, hit_community_limit
from hub.accounts.users import get_users
from hub.db import utcnow
from hub.errors import BadRequest
from hub.forum.errors import CommentNotFound, ThreadLocked
from hub.forum.markdown import render_markdown
from hub.forum.models import MAX_DEPTH, PATH_DIGITS, Comment, Revision, Thread
from hub.forum.rules import check_body, require_author_or_moderator
from hub.forum.schemas import CommentOut, CommentPage
from hub.forum.threads import access_thread, thread_id_of, thread_url, touch_for_comment
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter

_PATH = re.compile(rf"^(?:\d{{{PATH_DIGITS}}}){{1,{MAX_DEPTH}}}$")


@dataclass(frozen=True)
class CommentRef:
    id: int
    thread_id: int
    url: str


def comment_anchor(comment_id: int) -> str:
    return f"c{comment_id}"


def comment_url(thread: Thread, comment_id: int) -> str:
    return f"{thread_url(thread_id_of(thread), thread.slug)}#{comment_anchor(comment_id)}"


def comment_id_of(comment: Comment) -> int:
    if comment.comment_id is None:  # pragma: no cover - rows read or flushed have their id
        raise RuntimeError("the comment has no id yet")
    return comment.comment_id


def _segment(comment_id: int) -> str:
    return f"{comment_id:0{PATH_DIGITS}d}"


async def get_comment(session: AsyncSession, comment_id: int) -> Comment | None:
    """The comment unless it is missing or deleted, or its thread is."""
    comment = await session.get(Comment, comment_id)
    if comment is None or comment.deleted_at is not None:
        return None
    thread = await session.get(Thread, comment.thread_id)
    if thread is None or thread.deleted_at is not None:
        return None
    return comment


async def access_comment(session: AsyncSession, comment_id: int) -> tuple[Comment, Thread]:
    """The comment and its thread, or 404 when either is missing or deleted."""
    comment = await get_comment(session, comment_id)
    if comment is None:
        raise CommentNotFound()
    return comment, await access_thread(session, comment.thread_id)


async def _parent(session: AsyncSession, thread_id: int, parent_id: int) -> Comment:
    parent = await get_comment(session, parent_id)
    if parent is None or parent.thread_id != thread_id:
        raise CommentNotFound("No such comment in this thread.")
    return parent


def _place(parent: Comment | None, comment_id: int) -> tuple[str, int]:
    """(path, depth) of a new comment: under its parent, or beside it when the parent is at the
    deepest level already (the reply is shown right after the parent, parent_id keeps who it
    answers)."""
    if parent is None:
        return _segment(comment_id), 0
    if parent.depth + 1 < MAX_DEPTH:
        return parent.path + _segment(comment_id), parent.depth + 1
    return parent.path[:-PATH_DIGITS] + _segment(comment_id), parent.depth


async def add_comment(
    session: AsyncSession,
    actor: Actor,
    thread_id: int,
    *,
    body: str,
    parent_id: int | None = None,
    limiter: RateLimiter | None,
) -> CommentRef:
    """Answers the thread (or the comment ``parent_id`` in it). 404 when the thread or the parent
    is missing or deleted, 409 when the thread is locked, 429 past the comment rate limit (with a
    ``limiter``; None: the caller limits)."""
    body = check_body(session, body)
    thread = await access_thread(session, thread_id)
    if thread.locked:
        raise ThreadLocked()
    parent = await _parent(session, thread_id, parent_id) if parent_id is not None else None
    if limiter is not None:
        await hit_community_limit(session, actor, limiter, CommunityAction.comment)
    now = utcnow()
    comment = Comment(
        thread_id=thread_id,
        author_id=actor.user_id,
        parent_id=parent_id,
        body=body,
        created_at=now,
        updated_at=now,
    )
    session.add(comment)
    await session.flush()
    comment.path, comment.depth = _place(parent, comment_id_of(comment))
    await touch_for_comment(session, thread_id, +1)
    await session.flush()
    return CommentRef(
        id=comment_id_of(comment),
        thread_id=thread_id,
        url=comment_url(thread, comment_id_of(comment)),
    )


async def comment_counts(session: AsyncSession, thread_ids: Sequence[int]) -> dict[int, int]:
    """Live comments per thread, for every id asked (0 for unknown or deleted threads)."""
    counts = dict.fromkeys(thread_ids, 0)
    if counts:
        rows = await session.execute(
            select(col(Thread.thread_id), col(Thread.comment_count)).where(
                col(Thread.thread_id).in_(list(counts)), col(Thread.deleted_at).is_(None)
            )
        )
        counts.update({t: n for t, n in rows.all() if t is not None})
    return counts


def _tree_cursor(cursor: str) -> str:
    at, path = decode_cursor(cursor)
    if not isinstance(path, str) or not _PATH.fullmatch(path) or at.tzinfo is None:
        raise BadRequest("The cursor is not valid; start again without it.")
    return path


def comments_out(
    comments: list[Comment], authors: Mapping[int, UserPublic], liked: set[int]
) -> list[CommentOut]:
    items = []
    for c in comments:
        deleted = c.deleted_at is not None
        items.append(
            CommentOut(
                comment_id=comment_id_of(c),
                thread_id=c.thread_id,
                parent_id=c.parent_id,
                depth=c.depth,
                author=None if deleted else authors.get(c.author_id),
                body="" if deleted else c.body,
                body_html="" if deleted else str(render_markdown(c.body)),
                like_count=c.like_count,
                liked=comment_id_of(c) in liked,
                deleted=deleted,
                created_at=c.created_at,
                edited_at=None if deleted else c.edited_at,
            )
        )
    return items


async def comment_rows(
    session: AsyncSession, thread_id: int, *, cursor: str | None, limit: int
) -> tuple[list[Comment], str | None]:
    """A page of the thread's reply tree in path order (deleted comments included, shown as
    placeholders), and the cursor of the next page. The thread must be checked by the caller."""
    stmt = select(Comment).where(col(Comment.thread_id) == thread_id)
    if cursor:
        stmt = stmt.where(col(Comment.path) > _tree_cursor(cursor))
    rows = list(await session.scalars(stmt.order_by(col(Comment.path)).limit(limit + 1)))
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1].created_at, page[-1].path)
    return page, next_cursor


async def list_comments(
    session: AsyncSession,
    thread_id: int,
    *,
    cursor: str | None,
    limit: int,
    liked: set[int] | None = None,
) -> CommentPage:
    """The thread's reply tree, depth first, oldest first among siblings; 404 for a missing or
    deleted thread, 400 for a cursor the hub did not make."""
    await access_thread(session, thread_id)
    page, next_cursor = await comment_rows(session, thread_id, cursor=cursor, limit=limit)
    authors = await get_users(session, [c.author_id for c in page])
    return CommentPage(items=comments_out(page, authors, liked or set()), next_cursor=next_cursor)


async def edit_comment(
    session: AsyncSession, actor: Actor, comment_id: int, *, body: str
) -> Comment:
    """The author (while the thread is open) or a moderator replaces the body; the old one goes
    to the edit history."""
    comment, thread = await access_comment(session, comment_id)
    require_author_or_moderator(actor, comment.author_id, locked=thread.locked, to="edit it")
    body = check_body(session, body)
    if body == comment.body:
        return comment
    session.add(
        Revision(
            comment_id=comment.comment_id,
            editor_id=actor.user_id,
            body=comment.body,
            written_at=comment.edited_at or comment.created_at,
        )
    )
    comment.body = body
    comment.edited_at = comment.updated_at = utcnow()
    await session.flush()
    return comment


async def delete_comment(session: AsyncSession, actor: Actor, comment_id: int) -> Comment:
    """Soft delete by the author (while open) or a moderator: the comment keeps its place, shown
    as deleted, so the replies under it stay where they were."""
    comment, thread = await access_comment(session, comment_id)
    require_author_or_moderator(actor, comment.author_id, locked=thread.locked, to="delete it")
    comment.deleted_at = comment.updated_at = utcnow()
    await touch_for_comment(session, comment.thread_id, -1)
    await session.flush()
    return comment


async def live_comment_ids(session: AsyncSession, thread_id: int) -> list[int]:
    """The ids of the thread's comments that are not deleted (to unindex them with it)."""
    stmt = select(col(Comment.comment_id)).where(
        col(Comment.thread_id) == thread_id, col(Comment.deleted_at).is_(None)
    )
    return [int(i) for i in await session.scalars(stmt) if i is not None]


async def set_like_count(session: AsyncSession, comment_id: int, delta: int) -> int:
    """Moves the comment's like counter by ``delta`` in one statement; returns the new count."""
    stmt = (
        update(Comment)
        .where(col(Comment.comment_id) == comment_id)
        .values(like_count=col(Comment.like_count) + delta)
        .returning(col(Comment.like_count))
    )
    return int((await session.execute(stmt)).scalar_one())
