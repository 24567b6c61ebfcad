"""Profiles: one person's works and favorites (as pages of work cards), and what the profile
page shows about them (counts, whether the viewer follows them).

A person's works are paged like the feeds, on ``(published_at, work_id)`` by the partial index
``ix_works_listed_author``; their favorites in the order they favorited them (social's
``reaction_page``). Unknown and disabled users are 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.accounts.schemas import UserPublic
from hub.accounts.users import access_profile
from hub.pagination import DEFAULT_LIMIT
from hub.social.service import (
    ReactionKind,
    TargetType,
    follow_counts,
    is_following,
    reaction_page,
)
from hub.storage.backends import Storage
from hub.works.cards import listed_works, work_cards
from hub.works.feeds import FeedPage, FeedSort, keyed, keyset_page
from hub.works.models import Work

WORKS: Table = Work.metadata.tables[Work.__tablename__]
_W = WORKS.c


@dataclass(frozen=True)
class ProfileSummary:
    user: UserPublic
    work_count: int
    follower_count: int
    following_count: int
    # Whether the viewer follows them (None: not signed in, or it is the viewer).
    viewer_follows: bool | None


async def profile_summary(
    session: AsyncSession, actor: Actor | None, username: str
) -> ProfileSummary:
    user = await access_profile(session, username=username)
    works = select(func.count()).where(_W.author_id == user.user_id, *listed_works())
    work_count = int(await session.scalar(works) or 0)
    followers, following = await follow_counts(session, user.user_id)
    viewer_follows = None
    if actor is not None and actor.user_id != user.user_id:
        viewer_follows = await is_following(session, actor.user_id, user.user_id)
    return ProfileSummary(user, work_count, followers, following, viewer_follows)


async def user_works(
    session: AsyncSession,
    actor: Actor | None,
    username: str,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    storage: Storage | None = None,
) -> FeedPage:
    """The person's listed works, newest first (the cursor is a ``latest`` feed cursor)."""
    user = await access_profile(session, username=username)
    stmt = keyed(FeedSort.latest).where(_W.author_id == user.user_id)
    ids, next_cursor = await keyset_page(session, stmt, FeedSort.latest, cursor, limit)
    cards = await work_cards(session, actor, ids, storage=storage)
    return FeedPage(items=cards, next_cursor=next_cursor)


async def user_favorites(
    session: AsyncSession,
    actor: Actor | None,
    username: str,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    storage: Storage | None = None,
) -> FeedPage:
    """The works the person favorited, latest favorite first. Favorites of works that are no
    longer listed (deleted, hidden, back to draft) are left out, so a page may hold fewer than
    ``limit`` cards while ``next_cursor`` still leads on."""
    user = await access_profile(session, username=username)
    ids, next_cursor = await reaction_page(
        session, user.user_id, TargetType.work, ReactionKind.favorite, cursor=cursor, limit=limit
    )
    cards = await work_cards(session, actor, ids, storage=storage)
    return FeedPage(items=cards, next_cursor=next_cursor)
