"""Works rows, images and reactions for the feeds tests, written straight to the tables (the works
service that publishes them is another module's; these tests are about reading them)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from hub.context import HubContext
from hub.social.service import ReactionKind, TargetType, set_reaction
from hub.storage.keys import new_media_id
from hub.storage.models import Image
from hub.works.hot import refresh_hot
from hub.works.models import Work, WorkStatus
from tests.hub.notifications.helpers import Person

BASE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
_jobs = itertools.count(1)


async def make_image(ctx: HubContext, owner: Person) -> str:
    image_id = new_media_id()
    job = f"job{next(_jobs)}"
    base = f"images/{job}/0/{image_id}"
    async with ctx.db.unit_of_work() as session:
        session.add(
            Image(
                image_id=image_id,
                owner_id=owner.user_id,
                job_id=job,
                index=0,
                key=f"{base}.png",
                thumb_key=f"{base}-thumb.webp",
                square_key=f"{base}-square.webp",
                mime="image/png",
                width=640,
                height=480,
                bytes=1000,
                seed="1",
                model="offline-sketch",
                prompt="a lighthouse",
            )
        )
    return image_id


async def make_work(
    ctx: HubContext,
    author: Person,
    title: str = "A work",
    *,
    status: WorkStatus = WorkStatus.published,
    published_at: datetime | None = BASE,
    category: str | None = None,
    cover: str | None = None,
    **values: Any,
) -> int:
    """A work row with its hot score refreshed, as publishing leaves it."""
    async with ctx.db.unit_of_work() as session:
        work = Work(
            author_id=author.user_id,
            title=title,
            slug=title.lower().replace(" ", "-")[:40],
            status=status.value,
            published_at=published_at if status is WorkStatus.published else None,
            category=category,
            cover_image_id=cover,
            **values,
        )
        session.add(work)
        await session.flush()
        assert work.work_id is not None
        await refresh_hot(session, work.work_id)
        return work.work_id


async def react(
    ctx: HubContext, who: Person, work_id: int, kind: ReactionKind = ReactionKind.like
) -> None:
    """What liking a work does: the reaction row, the counter and the hot score together."""
    column = Work.like_count if kind is ReactionKind.like else Work.favorite_count
    async with ctx.db.unit_of_work() as session:
        if await set_reaction(
            session, who.actor, TargetType.work, work_id, kind, True, limiter=None
        ):
            await session.execute(
                update(Work)
                .where(Work.work_id == work_id)  # type: ignore[arg-type]
                .values({column: column + 1})
            )
            await refresh_hot(session, work_id)


async def set_columns(ctx: HubContext, work_id: int, **values: Any) -> None:
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(Work).where(Work.work_id == work_id).values(**values)  # type: ignore[arg-type]
        )


async def hot_of(ctx: HubContext, work_id: int) -> float:
    async with ctx.db.unit_of_work() as session:
        work = await session.get(Work, work_id)
        assert work is not None
        return work.hot_score


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
