"""Reactions under real concurrency: the contract's pattern (set_reaction, then move the owner's
counter by one in the same transaction only when it changed) keeps counts exact.

The works table stands in for any owner of a counter (works, threads, comments): each request is
its own unit of work, all started at once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, update
from sqlmodel import col

from hub.context import HubContext
from hub.social import service
from hub.social.models import Reaction
from hub.social.service import ReactionKind, TargetType
from hub.works.models import Work
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import Person, people


async def _work(ctx: HubContext, author: Person) -> int:
    async with ctx.db.unit_of_work() as session:
        work = Work(author_id=author.user_id, title="Koi", status="published")
        session.add(work)
        await session.flush()
        assert work.work_id is not None
        return work.work_id


async def _like(ctx: HubContext, fan: Person, work_id: int, on: bool) -> bool:
    """What a like route does: the reaction and the counter in one transaction."""
    async with ctx.db.unit_of_work() as session:
        changed = await service.set_reaction(
            session, fan.actor, TargetType.work, work_id, ReactionKind.like, on, limiter=ctx.limiter
        )
        if changed:
            step = 1 if on else -1
            await session.execute(
                update(Work)
                .where(col(Work.work_id) == work_id)
                .values(like_count=col(Work.like_count) + step)
            )
        return changed


async def _counts(ctx: HubContext, work_id: int) -> tuple[int, int]:
    async with ctx.db.unit_of_work() as session:
        work = await session.get(Work, work_id)
        rows = await session.scalar(
            select(func.count()).where(
                col(Reaction.target_type) == "work", col(Reaction.target_id) == work_id
            )
        )
        assert work is not None
        return work.like_count, int(rows or 0)


@BOTH_DATABASES
async def test_a_hundred_concurrent_likes_count_exactly(ctx: HubContext) -> None:
    fans = await people(ctx, "fan", 100)
    work_id = await _work(ctx, fans[0])
    # Each fan likes twice at once: 200 transactions, 100 likes.
    changed = await asyncio.gather(*(_like(ctx, fan, work_id, True) for fan in fans + fans))
    assert sum(changed) == 100
    assert await _counts(ctx, work_id) == (100, 100)
    unliked = await asyncio.gather(*(_like(ctx, fan, work_id, False) for fan in fans + fans))
    assert sum(unliked) == 100
    assert await _counts(ctx, work_id) == (0, 0)
