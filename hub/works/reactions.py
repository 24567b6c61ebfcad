"""Likes and favorites of works, with exact counts.

The reaction itself is the social domain's row (``social.set_reaction``: insert-or-nothing, or
delete); only when that changed something does the work's counter move, by one
``UPDATE works SET like_count = like_count + 1`` in the same transaction. Counts therefore stay
exact under any concurrency (a hundred people liking at once: exactly a hundred), and liking
twice changes nothing. Only published works take reactions: a draft is its author's alone.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.notifications.service import NotificationKind, notify
from hub.ratelimit import RateLimiter
from hub.social.service import ReactionKind, TargetType, set_reaction
from hub.storage.backends import Storage
from hub.works.errors import WorkNotPublished
from hub.works.hot import refresh_hot
from hub.works.models import Work, WorkStatus
from hub.works.schemas import WorkOut
from hub.works.service import access_work
from hub.works.views import work_out, work_url

_COUNTERS = {ReactionKind.like: "like_count", ReactionKind.favorite: "favorite_count"}


async def _move_counter(
    session: AsyncSession, work_id: int, kind: ReactionKind, delta: int
) -> tuple[int, int]:
    """Move one counter; the row's (likes, favorites) after it. This UPDATE locks the row until
    the commit, so it comes last: concurrent reactions queue only for it and the hot score."""
    column = col(getattr(Work, _COUNTERS[kind]))
    row = (
        await session.execute(
            update(Work)
            .where(col(Work.work_id) == work_id)
            .values({column: column + delta})
            .returning(col(Work.like_count), col(Work.favorite_count))
        )
    ).one()
    return int(row[0]), int(row[1])


async def react(
    session: AsyncSession,
    actor: Actor,
    work_id: int,
    kind: ReactionKind,
    on: bool,
    *,
    storage: Storage,
    limiter: RateLimiter | None,
) -> WorkOut:
    """Like or favorite (``on``), or take it back; returns the work with its counts."""
    work = await access_work(session, actor, work_id)
    if work.status != WorkStatus.published:
        raise WorkNotPublished()
    changed = await set_reaction(
        session, actor, TargetType.work, work_id, kind, on, limiter=limiter
    )
    # Read everything before the counter's row lock is taken (see _move_counter).
    view = await work_out(session, work, actor=actor, storage=storage)
    if not changed:
        return view
    if on and kind == ReactionKind.like:
        await notify(
            session,
            recipient_id=work.author_id,
            kind=NotificationKind.like,
            actor_id=actor.user_id,
            text=f"{actor.display_name} likes “{work.title}”",
            url=work_url(work),
            subject_type="work",
            subject_id=str(work_id),
        )
    likes, favorites = await _move_counter(session, work_id, kind, +1 if on else -1)
    await refresh_hot(session, work_id)
    return view.model_copy(update={"like_count": likes, "favorite_count": favorites})
