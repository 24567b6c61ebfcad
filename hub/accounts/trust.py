"""Trust: which community rate limit applies to a user, and who may post at all.

Posting, commenting, reacting, following and publishing are limited per user through the one
limiter; accounts younger than ``HUB_NEW_ACCOUNT_HOURS`` get the tighter ``*_NEW`` rule (spam
accounts are new accounts). A moderator may set a user's :class:`TrustLevel`
(:func:`set_trust_level`): ``member`` and ``trusted`` lift the new-account limits whatever the
account's age, ``new`` keeps them whatever its age, none (the default) goes by age. A suspended
user (moderation's "hide user", :func:`suspend_user`) may read but not post: every community
action goes through :func:`hit_community_limit`, which refuses them first (docs/moderation.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum, StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.accounts.models import User
from hub.accounts.roles import UserRole, has_role
from hub.accounts.users import get_user
from hub.db import settings_of, utcnow
from hub.errors import Forbidden, NotFound
from hub.ratelimit import RateLimiter
from hub.settings import Settings


class CommunityAction(StrEnum):
    thread = "thread"
    comment = "comment"
    reaction = "reaction"
    follow = "follow"
    work = "work"
    prompt = "prompt"


def _rules(settings: Settings, action: CommunityAction) -> tuple[str, str]:
    return {
        CommunityAction.thread: (settings.rate_limit_thread, settings.rate_limit_thread_new),
        CommunityAction.comment: (settings.rate_limit_comment, settings.rate_limit_comment_new),
        CommunityAction.reaction: (
            settings.rate_limit_reaction,
            settings.rate_limit_reaction_new,
        ),
        CommunityAction.follow: (settings.rate_limit_follow, settings.rate_limit_follow_new),
        CommunityAction.work: (settings.rate_limit_work, settings.rate_limit_work_new),
        CommunityAction.prompt: (settings.rate_limit_prompt, settings.rate_limit_prompt_new),
    }[action]


class TrustLevel(IntEnum):
    """Stored in ``users.trust_level`` (None: by account age)."""

    new = 0
    member = 1
    trusted = 2


class Suspended(Forbidden):
    default_message = "Your account is suspended; you cannot post."


async def trust_level(session: AsyncSession, actor: Actor) -> TrustLevel:
    """The level that applies: the one a moderator set, else ``new`` or ``member`` by age;
    staff are ``trusted``."""
    if has_role(actor, UserRole.MODERATOR):
        return TrustLevel.trusted
    user = await get_user(session, actor.user_id)
    if user is None:
        return TrustLevel.new
    if user.trust_level is not None:
        return TrustLevel(user.trust_level)
    age = utcnow() - user.created_at
    young = age < timedelta(hours=settings_of(session).new_account_hours)
    return TrustLevel.new if young else TrustLevel.member


async def is_new_account(session: AsyncSession, actor: Actor) -> bool:
    """Younger than ``HUB_NEW_ACCOUNT_HOURS`` unless a moderator set a trust level (then:
    whether it is ``new``); staff never count as new."""
    return await trust_level(session, actor) is TrustLevel.new


async def set_trust_level(session: AsyncSession, *, user_id: int, level: TrustLevel | None) -> User:
    """Sets (None: clears) the level; the caller checks the permission and audits the change
    (:mod:`hub.moderation`)."""
    user = await get_user(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    user.trust_level = None if level is None else int(level)
    user.updated_at = utcnow()
    await session.flush()
    return user


async def suspend_user(session: AsyncSession, *, user_id: int, reason: str | None) -> User:
    """Suspends (``reason`` given) or lifts a suspension (``reason`` None); idempotent. The
    caller checks the permission and audits (:mod:`hub.moderation`)."""
    user = await get_user(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    if reason is None:
        user.suspended_at = user.suspended_reason = None
    elif user.suspended_at is None:
        user.suspended_at, user.suspended_reason = utcnow(), reason
    user.updated_at = utcnow()
    await session.flush()
    return user


# --- pre-review -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewPolicy:
    """How works, threads and comments learn whether to hold a new account's post, without
    importing moderation (which sits above them): ``enabled`` is the switch
    (``hub.moderation.review.pre_review_enabled``), ``queue`` puts a held item on the review
    queue. :mod:`hub.moderation` installs its policy when it is imported (the app always imports
    it); until then nothing is held."""

    enabled: Callable[[AsyncSession], Awaitable[bool]]
    queue: Callable[[AsyncSession, str, int], Awaitable[None]]


_policy: ReviewPolicy | None = None


def install_review_policy(policy: ReviewPolicy) -> None:
    global _policy
    _policy = policy


async def held_for_review(session: AsyncSession, actor: Actor) -> bool:
    """Whether ``actor``'s new post waits for a moderator: pre-review is on and the account is
    new (trust level ``new``, or young without a level)."""
    if _policy is None or not await _policy.enabled(session):
        return False
    return await is_new_account(session, actor)


async def report_held(session: AsyncSession, target_type: str, target_id: int) -> None:
    """Puts a held post on the review queue (in the caller's transaction)."""
    if _policy is not None:
        await _policy.queue(session, target_type, target_id)


async def check_can_post(session: AsyncSession, actor: Actor) -> None:
    """403 (``forbidden``) for a suspended user."""
    user = await get_user(session, actor.user_id)
    if user is not None and user.suspended_at is not None:
        raise Suspended()


async def hit_community_limit(
    session: AsyncSession, actor: Actor, limiter: RateLimiter, action: CommunityAction
) -> None:
    """Counts one ``action`` by ``actor``; 429 (``rate_limited``) past the rule that applies,
    403 for a suspended user."""
    await check_can_post(session, actor)
    normal, new = _rules(settings_of(session), action)
    rule = new if await is_new_account(session, actor) else normal
    await limiter.hit(rule, f"community-{action.value}", str(actor.user_id))
