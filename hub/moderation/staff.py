"""Trust levels and the prompt block-list, set by moderators and audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.accounts.trust import TrustLevel, set_trust_level, trust_level
from hub.accounts.users import actor_for, get_user
from hub.audit.service import record
from hub.errors import NotFound
from hub.generation import blocklist
from hub.moderation.schemas import BlockedTermOut, TargetOut, TrustOut
from hub.moderation.service import require_moderator
from hub.moderation.targets import MAX_ID, find_target

# --- trust levels --------------------------------------------------------------------------------


async def set_trust(
    session: AsyncSession, actor: Actor, user_id: int, *, level: str | None
) -> TrustOut:
    require_moderator(actor)
    user = await get_user(session, user_id) if 0 < user_id <= MAX_ID else None
    if user is None:
        raise NotFound("No such user.")
    before = TrustLevel(user.trust_level).name if user.trust_level is not None else None
    await set_trust_level(
        session, user_id=user_id, level=TrustLevel[level] if level is not None else None
    )
    if before != level:
        await record(
            session,
            actor_id=actor.user_id,
            action="user.trust",
            target_type="user",
            target_id=user_id,
            before={"trust_level": before},
            after={"trust_level": level},
        )
    effective = await trust_level(session, actor_for(user, auth="session"))
    return TrustOut(user_id=user_id, level=level, effective=effective.name)  # type: ignore[arg-type]


# --- the block-list ------------------------------------------------------------------------------


def _term_out(row: Any) -> BlockedTermOut:
    return BlockedTermOut(
        term_id=row.term_id, term=row.term, created_by=row.created_by, created_at=row.created_at
    )


async def list_blocked_terms(session: AsyncSession, actor: Actor) -> list[BlockedTermOut]:
    require_moderator(actor)
    return [_term_out(row) for row in await blocklist.list_terms(session)]


async def block_term(
    session: AsyncSession, actor: Actor, *, term: str
) -> tuple[BlockedTermOut, bool]:
    """Adds a term (adding it again, in any case, is a no-op: the existing entry, False)."""
    require_moderator(actor)
    row, created = await blocklist.add_term(session, term=term, created_by=actor.user_id)
    if created:
        await record(
            session,
            actor_id=actor.user_id,
            action="blocklist.add",
            target_type="blocked_term",
            target_id=row.term_id or 0,
            after={"term": row.term},
        )
    return _term_out(row), created


async def unblock_term(session: AsyncSession, actor: Actor, term_id: int) -> None:
    require_moderator(actor)
    row = await blocklist.get_term(session, term_id) if 0 < term_id <= MAX_ID else None
    if row is None:
        raise NotFound("No such blocked term.")
    await record(
        session,
        actor_id=actor.user_id,
        action="blocklist.remove",
        target_type="blocked_term",
        target_id=term_id,
        before={"term": row.term},
    )
    await blocklist.remove_term(session, row)


async def target_state(
    session: AsyncSession, actor: Actor, *, target_type: str, target_id: str
) -> TargetOut:
    require_moderator(actor)
    return await find_target(session, target_type, target_id, reader=None)
