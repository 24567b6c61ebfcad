"""Trust: which community rate limit applies to a user.

Posting, commenting, reacting, following and publishing are limited per user through the one
limiter; accounts younger than ``HUB_NEW_ACCOUNT_HOURS`` get the tighter ``*_NEW`` rule (spam
accounts are new accounts). Moderation (trust levels granted by moderators) lifts this later by
changing :func:`is_new_account` only.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.accounts.roles import UserRole, has_role
from hub.accounts.users import get_user
from hub.db import settings_of, utcnow
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


async def is_new_account(session: AsyncSession, actor: Actor) -> bool:
    """Younger than ``HUB_NEW_ACCOUNT_HOURS``; staff never count as new."""
    if has_role(actor, UserRole.MODERATOR):
        return False
    user = await get_user(session, actor.user_id)
    if user is None:
        return True
    age = utcnow() - user.created_at
    return age < timedelta(hours=settings_of(session).new_account_hours)


async def hit_community_limit(
    session: AsyncSession, actor: Actor, limiter: RateLimiter, action: CommunityAction
) -> None:
    """Counts one ``action`` by ``actor``; 429 (``rate_limited``) past the rule that applies."""
    normal, new = _rules(settings_of(session), action)
    rule = new if await is_new_account(session, actor) else normal
    await limiter.hit(rule, f"community-{action.value}", str(actor.user_id))
