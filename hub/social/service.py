"""The social graph: reactions (likes, favorites) on works, threads and comments, and follows.

Exact under concurrency by construction: a reaction or a follow is one row with a primary key, so
a set is ``INSERT ... ON CONFLICT DO NOTHING`` and an unset a ``DELETE``; each reports whether it
changed anything. The owner of a reaction's target moves its denormalized counter by +1/-1 with
``UPDATE ... SET n = n + 1`` in the same transaction only when this says it changed, so a hundred
people liking at once gives exactly a hundred, and liking twice changes nothing. Follower counts
are counted from the rows themselves.

Rate limits: pass the request's ``limiter`` and the action is counted against the actor's
community budget (``hub.accounts.trust``); pass None when the caller already counted it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.accounts.schemas import USERNAME_RE
from hub.accounts.trust import CommunityAction, hit_community_limit
from hub.accounts.users import get_user_by_username, get_users, user_id_of
from hub.db import utcnow
from hub.errors import BadRequest, NotFound, ValidationFailed
from hub.notifications.service import NotificationKind, notify
from hub.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter
from hub.social.models import Follow, Reaction
from hub.social.schemas import FollowOut, UserPage

REACTIONS: Table = Reaction.metadata.tables[Reaction.__tablename__]
FOLLOWS: Table = Follow.metadata.tables[Follow.__tablename__]


class TargetType(StrEnum):
    work = "work"
    thread = "thread"
    comment = "comment"


class ReactionKind(StrEnum):
    like = "like"
    favorite = "favorite"


def _insert(session: AsyncSession, table: Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"page limit out of range: {limit}")
    return limit


def _cursor_pair(cursor: str) -> tuple[Any, int]:
    created, row_id = decode_cursor(cursor)
    if not isinstance(row_id, int) or isinstance(row_id, bool) or created.tzinfo is None:
        raise BadRequest("The cursor is not valid; start again without it.")
    return created, row_id


# --- reactions -----------------------------------------------------------------------------------


async def set_reaction(
    session: AsyncSession,
    actor: Actor,
    target_type: TargetType,
    target_id: int,
    kind: ReactionKind,
    on: bool,
    *,
    limiter: RateLimiter | None,
) -> bool:
    """Set (``on``) or unset the actor's reaction; True when that changed something. The caller
    has checked that the target exists and may be seen, and moves its counter by +1 / -1 in the
    same transaction when this returns True."""
    target_type, kind = TargetType(target_type), ReactionKind(kind)
    if limiter is not None:
        await hit_community_limit(session, actor, limiter, CommunityAction.reaction)
    key = {
        "user_id": actor.user_id,
        "target_type": target_type.value,
        "target_id": target_id,
        "kind": kind.value,
    }
    if on:
        stmt = (
            _insert(session, REACTIONS)
            .values(**key, created_at=utcnow())
            .on_conflict_do_nothing()
            .returning(REACTIONS.c.user_id)
        )
        return (await session.execute(stmt)).first() is not None
    where = [REACTIONS.c[name] == value for name, value in key.items()]
    return _rowcount(await session.execute(delete(REACTIONS).where(*where))) > 0


async def reacted_ids(
    session: AsyncSession,
    user_id: int | None,
    target_type: TargetType,
    kind: ReactionKind,
    target_ids: Sequence[int],
) -> set[int]:
    """Which of ``target_ids`` the user reacted to with ``kind`` (none for anonymous visitors)."""
    if user_id is None or not target_ids:
        return set()
    r = REACTIONS.c
    stmt = select(r.target_id).where(
        r.user_id == user_id,
        r.target_type == TargetType(target_type).value,
        r.kind == ReactionKind(kind).value,
        r.target_id.in_(sorted(set(target_ids))),
    )
    return set((await session.scalars(stmt)).all())


async def reaction_page(
    session: AsyncSession,
    user_id: int,
    target_type: TargetType,
    kind: ReactionKind,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[int], str | None]:
    """The ids the user reacted to (their favorites list), newest first, cursor-paged on
    (reacted at, target id). 400 for a cursor the hub did not make."""
    r = REACTIONS.c
    stmt = select(r.target_id, r.created_at).where(
        r.user_id == user_id,
        r.target_type == TargetType(target_type).value,
        r.kind == ReactionKind(kind).value,
    )
    if cursor:
        stmt = stmt.where(tuple_(r.created_at, r.target_id) < _cursor_pair(cursor))
    stmt = stmt.order_by(r.created_at.desc(), r.target_id.desc()).limit(_check_limit(limit) + 1)
    rows = (await session.execute(stmt)).all()
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1].created_at, page[-1].target_id) if len(rows) > limit else None
    )
    return [row.target_id for row in page], next_cursor


# --- follows -------------------------------------------------------------------------------------


async def _followee(session: AsyncSession, username: str) -> tuple[int, str]:
    """(user id, username) of an active user; 404 otherwise (also for what cannot be a
    username: a NUL would be a database error on Postgres, not a miss)."""
    if not USERNAME_RE.fullmatch(username):
        raise NotFound("No such user.")
    user = await get_user_by_username(session, username)
    if user is None or not user.is_active:
        raise NotFound("No such user.")
    return user_id_of(user), user.username


async def follow(
    session: AsyncSession,
    actor: Actor,
    username: str,
    on: bool,
    *,
    limiter: RateLimiter | None,
) -> bool:
    """Follow (``on``) or unfollow ``username``; True when that changed something. 404 for an
    unknown or disabled user, 422 for yourself. The followed user is notified (once per
    follower, however often they unfollow and follow again)."""
    user_id, _ = await _followee(session, username)
    if user_id == actor.user_id:
        raise ValidationFailed(
            "You cannot follow yourself.",
            fields=[{"field": "username", "message": "is you", "type": "follow_self"}],
        )
    if limiter is not None:
        await hit_community_limit(session, actor, limiter, CommunityAction.follow)
    f = FOLLOWS.c
    if not on:
        stmt = delete(FOLLOWS).where(f.follower_id == actor.user_id, f.followee_id == user_id)
        return _rowcount(await session.execute(stmt)) > 0
    stmt = (
        _insert(session, FOLLOWS)
        .values(follower_id=actor.user_id, followee_id=user_id, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(f.follower_id)
    )
    if (await session.execute(stmt)).first() is None:
        return False
    await notify(
        session,
        recipient_id=user_id,
        kind=NotificationKind.follow,
        actor_id=actor.user_id,
        text=f"{actor.display_name} (@{actor.username}) followed you",
        url=f"/u/{actor.username}",
        subject_type="user",
        subject_id=str(actor.user_id),
    )
    return True


async def set_follow(
    session: AsyncSession, actor: Actor, username: str, on: bool, *, limiter: RateLimiter | None
) -> FollowOut:
    """:func:`follow`, answered with the state and counts after it (the API's body)."""
    changed = await follow(session, actor, username, on, limiter=limiter)
    user_id, name = await _followee(session, username)
    followers, following = await follow_counts(session, user_id)
    return FollowOut(
        username=name,
        following=on,
        changed=changed,
        follower_count=followers,
        following_count=following,
    )


async def followee_ids(session: AsyncSession, user_id: int) -> list[int]:
    """Everyone ``user_id`` follows (for the following feed), newest follow first."""
    f = FOLLOWS.c
    stmt = (
        select(f.followee_id)
        .where(f.follower_id == user_id)
        .order_by(f.created_at.desc(), f.followee_id.desc())
    )
    return list((await session.scalars(stmt)).all())


async def follower_ids(session: AsyncSession, user_id: int) -> list[int]:
    """Everyone who follows ``user_id`` (to notify them of a new work), newest first."""
    f = FOLLOWS.c
    stmt = (
        select(f.follower_id)
        .where(f.followee_id == user_id)
        .order_by(f.created_at.desc(), f.follower_id.desc())
    )
    return list((await session.scalars(stmt)).all())


async def follow_counts(session: AsyncSession, user_id: int) -> tuple[int, int]:
    """(followers, following) of ``user_id``."""
    f = FOLLOWS.c
    followers = select(func.count()).where(f.followee_id == user_id).scalar_subquery()
    following = select(func.count()).where(f.follower_id == user_id).scalar_subquery()
    row = (await session.execute(select(followers, following))).one()
    return int(row[0]), int(row[1])


async def is_following(session: AsyncSession, follower_id: int, followee_id: int) -> bool:
    f = FOLLOWS.c
    stmt = select(f.follower_id).where(f.follower_id == follower_id, f.followee_id == followee_id)
    return (await session.execute(stmt)).first() is not None


async def list_follows(
    session: AsyncSession, username: str, *, followers: bool, cursor: str | None, limit: int
) -> UserPage:
    """The followers (or the followed) of ``username``, newest first, cursor-paged on (followed
    at, user id). 404 for an unknown or disabled user, 400 for a bad cursor."""
    user_id, _ = await _followee(session, username)
    f = FOLLOWS.c
    mine, other = (f.followee_id, f.follower_id) if followers else (f.follower_id, f.followee_id)
    stmt = select(other.label("user_id"), f.created_at).where(mine == user_id)
    if cursor:
        stmt = stmt.where(tuple_(f.created_at, other) < _cursor_pair(cursor))
    stmt = stmt.order_by(f.created_at.desc(), other.desc()).limit(_check_limit(limit) + 1)
    rows = (await session.execute(stmt)).all()
    page = rows[:limit]
    users = await get_users(session, [row.user_id for row in page])
    next_cursor = (
        encode_cursor(page[-1].created_at, page[-1].user_id) if len(rows) > limit else None
    )
    return UserPage(
        items=[users[row.user_id] for row in page if row.user_id in users],
        next_cursor=next_cursor,
    )
