"""Users in the search index: a profile is found by its display name, username and bio.

:func:`index_user` runs in the transaction of every change to those (sign-up, profile edit, new
avatar); :func:`search_documents` gives every account to ``hub search reindex``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.models import User
from hub.search.service import DocKind, SearchDocument, index_document

KINDS = (DocKind.user,)
_BATCH = 500


def profile_url(username: str) -> str:
    return f"/u/{username}"


def user_document(user: User) -> SearchDocument:
    """What search knows of an account. Deactivated accounts are private (found by nobody but
    themselves, who cannot sign in): their profile pages are gone too."""
    if user.user_id is None:
        raise ValueError("index a user after it has been flushed")
    return SearchDocument(
        kind=DocKind.user,
        ref_id=str(user.user_id),
        title=user.display_name,
        body=f"{user.username} {user.bio}",
        url=profile_url(user.username),
        owner_id=user.user_id,
        public=user.is_active,
        created_at=user.created_at,
        image_url=user.avatar_url or f"/api/v1/users/{user.username}/avatar.svg",
    )


async def index_user(session: AsyncSession, user: User) -> None:
    await index_document(session, user_document(user))


async def count_search_documents(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def search_documents(session: AsyncSession) -> AsyncIterator[SearchDocument]:
    """Every account, in batches by id (a keyset walk: no long-lived cursor or OFFSET)."""
    after = 0
    while True:
        batch = list(
            await session.scalars(
                select(User)
                .where(col(User.user_id) > after)
                .order_by(col(User.user_id))
                .limit(_BATCH)
            )
        )
        for user in batch:
            yield user_document(user)
        if len(batch) < _BATCH:
            return
        after = int(batch[-1].user_id or 0)
