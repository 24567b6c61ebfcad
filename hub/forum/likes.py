"""Likes on threads and comments: the reaction row is hub.social's, the counter the forum's.

``set_reaction`` says whether the like really changed; only then does the counter move, with
``UPDATE ... SET like_count = like_count ± 1`` in the same transaction, so a hundred people liking
at once give exactly a hundred and liking twice changes nothing.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.forum.comments import access_comment
from hub.forum.models import Comment, Thread
from hub.forum.notices import tell_like
from hub.forum.schemas import LikeOut
from hub.forum.threads import access_visible_thread, ref_of
from hub.forum.urls import comment_url
from hub.ratelimit import RateLimiter
from hub.social.service import ReactionKind, TargetType, set_reaction


async def _move(
    session: AsyncSession, model: type[Thread] | type[Comment], row_id: int, delta: int
) -> int:
    key = col(Thread.thread_id) if model is Thread else col(Comment.comment_id)
    counter = col(model.like_count)
    stmt = (
        update(model)
        .where(key == row_id)
        .values(like_count=counter + delta)
        .returning(counter)
        .execution_options(synchronize_session=False)
    )
    return int((await session.execute(stmt)).scalar_one())


async def like_thread(
    session: AsyncSession, actor: Actor, thread_id: int, *, on: bool, limiter: RateLimiter | None
) -> LikeOut:
    """Likes (``on``) or unlikes a thread; idempotent; 404 for a missing or deleted thread."""
    thread = await access_visible_thread(session, actor, thread_id)
    changed = await set_reaction(
        session, actor, TargetType.thread, thread_id, ReactionKind.like, on, limiter=limiter
    )
    if not changed:
        return LikeOut(liked=on, like_count=thread.like_count)
    count = await _move(session, Thread, thread_id, +1 if on else -1)
    if on:
        ref = ref_of(thread)
        await tell_like(
            session,
            actor,
            recipient_id=thread.author_id,
            subject_type="thread",
            subject_id=thread_id,
            thread_title=thread.title,
            url=ref.url,
        )
    return LikeOut(liked=on, like_count=count)


async def like_comment(
    session: AsyncSession, actor: Actor, comment_id: int, *, on: bool, limiter: RateLimiter | None
) -> LikeOut:
    """Likes (``on``) or unlikes a comment; idempotent; 404 for a missing or deleted one."""
    comment, thread = await access_comment(session, comment_id)
    changed = await set_reaction(
        session, actor, TargetType.comment, comment_id, ReactionKind.like, on, limiter=limiter
    )
    if not changed:
        return LikeOut(liked=on, like_count=comment.like_count)
    count = await _move(session, Comment, comment_id, +1 if on else -1)
    if on:
        await tell_like(
            session,
            actor,
            recipient_id=comment.author_id,
            subject_type="comment",
            subject_id=comment_id,
            thread_title=thread.title,
            url=comment_url(thread, comment_id),
        )
    return LikeOut(liked=on, like_count=count)
