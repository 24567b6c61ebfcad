"""What the settings page shows in one read: the profile, the personal tokens and the signed-in
browsers of the actor (``/settings``; each is changed through its own JSON endpoint)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.accounts.schemas import BrowserSessionList, PersonalTokenPage, UserPrivate
from hub.accounts.sessions import list_my_sessions
from hub.accounts.tokens import list_personal_tokens
from hub.accounts.users import access_me, user_private
from hub.pagination import MAX_LIMIT, PageParams


@dataclass(frozen=True)
class AccountSettings:
    user: UserPrivate
    tokens: PersonalTokenPage
    sessions: BrowserSessionList


async def read_settings(session: AsyncSession, actor: Actor) -> AccountSettings:
    """The first page of tokens (a hundred: more than a person keeps) and every live session."""
    user = user_private(await access_me(session, actor))
    tokens = await list_personal_tokens(session, actor, params=PageParams(limit=MAX_LIMIT))
    sessions = await list_my_sessions(session, actor)
    return AccountSettings(user=user, tokens=tokens, sessions=sessions)
