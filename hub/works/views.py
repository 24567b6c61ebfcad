"""What a work looks like to a reader: the JSON view, shared by the API and the artwork page.

Every view is built from the ``works`` row and its own tables plus public reads of other
domains (users from accounts, images from storage, reactions from social); no query here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.schemas import UserPublic
from hub.accounts.users import get_users
from hub.forum.service import comment_counts
from hub.social.service import ReactionKind, TargetType, reacted_ids
from hub.storage.backends import Storage
from hub.storage.keys import media_url
from hub.storage.models import Image
from hub.storage.service import get_image
from hub.works.models import Work, WorkContributor, WorkImage, WorkStatus
from hub.works.schemas import (
    ContributorOut,
    DiffPart,
    PersonOut,
    TimelineEntryOut,
    WorkImageOut,
    WorkOut,
    WorkSummaryOut,
)
from hub.works.timeline import diff_words, stored_entries


def work_id_of(work: Work) -> int:
    if work.work_id is None:  # pragma: no cover - rows read or flushed have their id
        raise RuntimeError("the work has no id yet; flush first")
    return work.work_id


def work_url(work: Work) -> str:
    return f"/artwork/{work_id_of(work)}/{work.slug}"


def profile_url(username: str) -> str:
    return f"/u/{username}"


def person(user: UserPublic) -> PersonOut:
    return PersonOut(
        user_id=user.user_id,
        username=user.username,
        display_name=user.display_name,
        avatar_url=user.avatar_url,
        profile_url=profile_url(user.username),
    )


async def work_images(session: AsyncSession, work_id: int) -> list[Image]:
    """The work's images in their order; images deleted from their owner's library are gone
    from the work too (their files go with the orphan cleanup)."""
    ids = await session.scalars(
        select(col(WorkImage.image_id))
        .where(col(WorkImage.work_id) == work_id)
        .order_by(col(WorkImage.position))
    )
    found = [await get_image(session, image_id) for image_id in ids]
    return [image for image in found if image is not None]


def image_out(storage: Storage, image: Image) -> WorkImageOut:
    return WorkImageOut(
        image_id=image.image_id,
        url=media_url(storage, image.key),
        thumb_url=media_url(storage, image.thumb_key),
        square_url=media_url(storage, image.square_key),
        width=image.width,
        height=image.height,
        seed=int(image.seed),
        model=image.model,
        prompt=image.prompt,
    )


def _timeline(raw: Any, users: dict[int, UserPublic]) -> list[TimelineEntryOut]:
    entries: list[TimelineEntryOut] = []
    before = ""
    for entry in stored_entries(raw):
        changes = [DiffPart(op=op, text=part) for op, part in diff_words(before, entry["prompt"])]  # type: ignore[arg-type]
        authors = [person(users[uid]) for uid in entry["user_ids"] if uid in users]
        entries.append(
            TimelineEntryOut(
                at=entry["at"],
                authors=authors,
                prompt=entry["prompt"],
                negative=entry["negative"],
                changes=changes,
                baseline=entry["baseline"],
            )
        )
        before = entry["prompt"]
    return entries


def _timeline_user_ids(raw: Any) -> set[int]:
    return {uid for entry in stored_entries(raw) for uid in entry["user_ids"]}


async def _contributors(session: AsyncSession, work_id: int) -> list[WorkContributor]:
    rows = await session.scalars(
        select(WorkContributor)
        .where(col(WorkContributor.work_id) == work_id)
        .order_by(col(WorkContributor.edits).desc(), col(WorkContributor.user_id))
    )
    return list(rows)


async def _reacted(session: AsyncSession, actor: Actor | None, work_id: int) -> tuple[bool, bool]:
    if actor is None:
        return False, False
    liked = await reacted_ids(session, actor.user_id, TargetType.work, ReactionKind.like, [work_id])
    favorited = await reacted_ids(
        session, actor.user_id, TargetType.work, ReactionKind.favorite, [work_id]
    )
    return bool(liked), bool(favorited)


def _contributor_out(row: WorkContributor, user: UserPublic) -> ContributorOut:
    return ContributorOut(**person(user).model_dump(), edits=row.edits)


async def work_out(
    session: AsyncSession, work: Work, *, actor: Actor | None, storage: Storage
) -> WorkOut:
    work_id = work_id_of(work)
    contributors = await _contributors(session, work_id)
    wanted: set[int] = {work.author_id, *(c.user_id for c in contributors)}
    users = await get_users(session, wanted | _timeline_user_ids(work.prompt_history))
    author = users[work.author_id]
    liked, favorited = await _reacted(session, actor, work_id)
    images = await work_images(session, work_id)
    # Comments live in the forum (the work's thread); count them there, where they change.
    comments = await comment_counts(session, [work.thread_id]) if work.thread_id else {}
    return WorkOut(
        id=work_id,
        work_id=work_id,
        url=work_url(work),
        title=work.title,
        slug=work.slug,
        description=work.description,
        status=WorkStatus(work.status).value,
        category=work.category,
        author=person(author),
        model=work.model,
        prompt=work.prompt,
        negative_prompt=work.negative_prompt,
        params=dict(work.params or {}),
        images=[image_out(storage, image) for image in images],
        contributors=[
            _contributor_out(c, users[c.user_id]) for c in contributors if c.user_id in users
        ],
        timeline=_timeline(work.prompt_history, users),
        from_room=work.room_id is not None,
        thread_id=work.thread_id,
        like_count=work.like_count,
        favorite_count=work.favorite_count,
        comment_count=comments.get(work.thread_id or 0, 0),
        view_count=work.view_count,
        remix_count=work.remix_count,
        parent_work_id=work.parent_work_id,
        liked=liked,
        favorited=favorited,
        created_at=work.created_at,
        updated_at=work.updated_at,
        published_at=work.published_at,
        hidden=work.hidden_at is not None,
        held=work.held,
        hidden_reason=work.hidden_reason,
    )


async def cover_urls(
    session: AsyncSession, storage: Storage, works: Iterable[Work]
) -> dict[int, str]:
    """The square preview of each work's cover image (works without one are left out)."""
    found: dict[int, str] = {}
    for work in works:
        if work.cover_image_id is None:
            continue
        image = await get_image(session, work.cover_image_id)
        if image is not None:
            found[work_id_of(work)] = media_url(storage, image.square_key)
    return found


def summaries(works: Sequence[Work], covers: dict[int, str]) -> list[WorkSummaryOut]:
    return [
        WorkSummaryOut(
            work_id=work_id_of(w),
            url=work_url(w),
            title=w.title,
            status=WorkStatus(w.status).value,
            cover_url=covers.get(work_id_of(w)),
            like_count=w.like_count,
            favorite_count=w.favorite_count,
            created_at=w.created_at,
            published_at=w.published_at,
        )
        for w in works
    ]
