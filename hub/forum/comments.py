"""Comments: the reply tree of a thread, paged depth first, with edits (history kept) and soft
deletes that keep a comment's place for the replies under it (docs/forum.md, "Comments")."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.roles import UserRole, has_role
from hub.accounts.schemas import UserPublic
from hub.accounts.trust import (
    CommunityAction,
    held_for_review,
    hit_community_limit,
    report_held,
)
from hub.accounts.users import get_users
from hub.db import utcnow
from hub.errors import BadRequest
from hub.forum.errors import CommentNotFound, ThreadLocked
from hub.forum.indexing import index_comment, unindex_comment
from hub.forum.markdown import render_markdown
from hub.forum.models import MAX_DEPTH, PATH_DIGITS, Comment, Revision, Thread
from hub.forum.notices import tell_mentions, tell_reply
from hub.forum.rules import check_body, require_author_or_moderator
from hub.forum.schemas import CommentOut
from hub.forum.threads import access_thread, access_visible_thread, touch_for_comment
from hub.forum.urls import comment_id_of, comment_url
from hub.pagination import decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from hub.social.service import ReactionKind, TargetType, reacted_ids

_PATH = re.compile(rf"^(?:\d{{{PATH_DIGITS}}}){{1,{MAX_DEPTH}}}$")


@dataclass(frozen=True)
class CommentRef:
    id: int
    thread_id: int
    url: str


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
    thread = await access_visible_thread(session, actor, thread_id)
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
    comment_id = comment_id_of(comment)
    comment.path, comment.depth = _place(parent, comment_id)
    held = await held_for_review(session, actor)
    if held:  # not counted until approved (set_comment_hidden counts it then)
        comment.hidden_at, comment.held = now, True
    else:
        await touch_for_comment(session, thread_id, +1)
    await session.flush()
    await index_comment(session, comment, thread)
    ref = CommentRef(id=comment_id, thread_id=thread_id, url=comment_url(thread, comment_id))
    if held:
        await report_held(session, "comment", comment_id)
        return ref
    await _tell(session, actor, thread, parent, body=body, ref=ref)
    return ref


async def _tell(
    session: AsyncSession,
    actor: Actor,
    thread: Thread,
    parent: Comment | None,
    *,
    body: str,
    ref: CommentRef,
) -> None:
    """The reply notice goes to the author answered; mentions to the others named."""
    recipient = parent.author_id if parent is not None else thread.author_id
    await tell_reply(
        session,
        actor,
        recipient_id=recipient,
        to_comment=parent is not None,
        thread_title=thread.title,
        body=body,
        url=ref.url,
        comment_id=ref.id,
    )
    await tell_mentions(
        session,
        actor,
        body=body,
        url=ref.url,
        subject_type="comment",
        subject_id=ref.id,
        exclude={recipient},
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


def _sees_hidden(comment: Comment, viewer: Actor | None) -> bool:
    return viewer is not None and (
        viewer.user_id == comment.author_id or has_role(viewer, UserRole.MODERATOR)
    )


def comments_out(
    comments: list[Comment],
    authors: Mapping[int, UserPublic],
    liked: set[int],
    viewer: Actor | None = None,
) -> list[CommentOut]:
    """A hidden (or held) comment keeps its place like a deleted one; its author and moderators
    (``viewer``) still read it, with the reason."""
    items = []
    for c in comments:
        deleted = c.deleted_at is not None
        hidden = c.hidden_at is not None
        blank = deleted or (hidden and not _sees_hidden(c, viewer))
        items.append(
            CommentOut(
                comment_id=comment_id_of(c),
                thread_id=c.thread_id,
                parent_id=c.parent_id,
                depth=c.depth,
                author=None if blank else authors.get(c.author_id),
                body="" if blank else c.body,
                body_html="" if blank else str(render_markdown(c.body)),
                like_count=c.like_count,
                liked=comment_id_of(c) in liked,
                deleted=deleted,
                hidden=hidden,
                hidden_reason=None if blank else c.hidden_reason,
                created_at=c.created_at,
                edited_at=None if blank else c.edited_at,
            )
        )
    return items


async def comment_rows(
    session: AsyncSession,
    thread_id: int,
    *,
    cursor: str | None,
    limit: int,
    start: int | None = None,
) -> tuple[list[Comment], str | None]:
    """A page of the thread's reply tree in path order (deleted comments included, shown as
    placeholders), and the cursor of the next page; ``start`` (a comment of the thread) begins
    the page at that comment instead. The thread must be checked by the caller."""
    stmt = select(Comment).where(col(Comment.thread_id) == thread_id)
    first = await session.get(Comment, start) if start is not None and not cursor else None
    if cursor:
        stmt = stmt.where(col(Comment.path) > _tree_cursor(cursor))
    elif first is not None and first.thread_id == thread_id:
        stmt = stmt.where(col(Comment.path) >= first.path)
    rows = list(await session.scalars(stmt.order_by(col(Comment.path)).limit(limit + 1)))
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1].created_at, page[-1].path)
    return page, next_cursor


async def edit_comment(
    session: AsyncSession, actor: Actor, comment_id: int, *, body: str
) -> CommentOut:
    """The author (while the thread is open) or a moderator replaces the body; the old one goes
    to the edit history."""
    comment, thread = await access_comment(session, comment_id)
    require_author_or_moderator(actor, comment.author_id, locked=thread.locked, to="edit it")
    body = check_body(session, body)
    if body != comment.body:
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
        await index_comment(session, comment, thread)
    return await comment_view(session, actor, comment)


async def comment_view(session: AsyncSession, actor: Actor | None, comment: Comment) -> CommentOut:
    """One comment as ``actor`` sees it (with whether they like it)."""
    comment_id = comment_id_of(comment)
    user_id = actor.user_id if actor is not None else None
    liked = await reacted_ids(session, user_id, TargetType.comment, ReactionKind.like, [comment_id])
    authors = await get_users(session, [comment.author_id])
    return comments_out([comment], authors, liked, actor)[0]


async def delete_comment(session: AsyncSession, actor: Actor, comment_id: int) -> Comment:
    """Soft delete by the author (while open) or a moderator: the comment keeps its place, shown
    as deleted, so the replies under it stay where they were."""
    comment, thread = await access_comment(session, comment_id)
    require_author_or_moderator(actor, comment.author_id, locked=thread.locked, to="delete it")
    comment.deleted_at = comment.updated_at = utcnow()
    if comment.hidden_at is None:  # a hidden comment is not counted already
        await touch_for_comment(session, comment.thread_id, -1)
    await session.flush()
    await unindex_comment(session, comment)
    return comment


async def set_comment_hidden(
    session: AsyncSession, comment_id: int, *, hidden: bool, reason: str | None, held: bool = False
) -> Comment:
    """Hides (with the reason its author sees), holds for review (``held``) or shows again a
    live comment; its thread's count and the search index follow. Idempotent; the caller
    (moderation) checks the permission and audits. 404 for a missing or deleted comment."""
    comment, thread = await access_comment(session, comment_id)
    was_hidden = comment.hidden_at is not None
    if hidden:
        comment.hidden_at = comment.hidden_at or utcnow()
        comment.hidden_reason, comment.held = (None, True) if held else (reason, False)
    else:
        comment.hidden_at, comment.hidden_reason, comment.held = None, None, False
    if was_hidden != hidden:
        await touch_for_comment(session, comment.thread_id, -1 if hidden else +1)
    await session.flush()
    await index_comment(session, comment, thread)
    return comment


async def live_comment_ids(session: AsyncSession, thread_id: int) -> list[int]:
    """The ids of the thread's comments that are not deleted (to unindex them with it)."""
    stmt = select(col(Comment.comment_id)).where(
        col(Comment.thread_id) == thread_id, col(Comment.deleted_at).is_(None)
    )
    return [int(i) for i in await session.scalars(stmt) if i is not None]
