"""The prompts of popular published works, for the prompt library's suggestions
(``hub.prompts.index``): what people build on (remixes) and like most."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.works.cards import listed_works
from hub.works.models import Work

_W = Work.metadata.tables[Work.__tablename__].c
# A remix is a stronger sign than a like that a prompt is worth building on (as in the hot score,
# docs/community.md).
REMIX_WEIGHT = 3


@dataclass(frozen=True, slots=True)
class PopularPrompt:
    work_id: int
    author_id: int
    title: str
    prompt: str
    like_count: int
    remix_count: int


async def popular_prompts(session: AsyncSession, *, limit: int) -> list[PopularPrompt]:
    """The ``limit`` listed works (published, not hidden, not deleted) with a prompt, most
    remixed and liked first. One ordered read of the listed works: callers run it in the
    background, every few seconds at most, never per request."""
    popularity = _W.remix_count * REMIX_WEIGHT + _W.like_count
    stmt = (
        select(_W.work_id, _W.author_id, _W.title, _W.prompt, _W.like_count, _W.remix_count)
        .where(*listed_works(), _W.prompt != "")
        .order_by(popularity.desc(), _W.work_id.desc())
        .limit(limit)
    )
    return [
        PopularPrompt(
            work_id=row.work_id,
            author_id=row.author_id,
            title=row.title,
            prompt=row.prompt,
            like_count=row.like_count,
            remix_count=row.remix_count,
        )
        for row in await session.execute(stmt)
    ]
