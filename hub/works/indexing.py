"""Works in the search index: what a hit on a work shows and who finds it.

A work is one document (kind ``work``): its title, then its description and prompts as the
body, its category and model as filters, its cover as the hit's image. A draft is found by its
author only (``public=False``); a deleted or hidden work is removed. Called in the transaction
that changed the work, so the index never shows a rolled-back change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.search.service import DocKind, SearchDocument, index_document, remove_document
from hub.storage.backends import Storage
from hub.storage.keys import media_url
from hub.storage.service import get_image
from hub.works.models import Work, WorkStatus
from hub.works.views import work_id_of, work_url

_BATCH = 500


def work_document(work: Work, *, image_url: str | None) -> SearchDocument:
    parts = [work.description, work.prompt]
    if work.negative_prompt:
        parts.append(work.negative_prompt)
    return SearchDocument(
        kind=DocKind.work,
        ref_id=str(work_id_of(work)),
        title=work.title,
        body="\n\n".join(part for part in parts if part),
        url=work_url(work),
        owner_id=work.author_id,
        public=work.status == WorkStatus.published and work.hidden_at is None,
        created_at=work.published_at or work.created_at,
        category=work.category,
        model=work.model or None,
        image_url=image_url,
    )


async def _cover_url(session: AsyncSession, storage: Storage | None, work: Work) -> str | None:
    if storage is None or work.cover_image_id is None:
        return None
    image = await get_image(session, work.cover_image_id)
    return media_url(storage, image.square_key) if image is not None else None


async def index_work(session: AsyncSession, work: Work, *, storage: Storage | None) -> None:
    if work.deleted_at is not None:
        await unindex_work(session, work)
        return
    image_url = await _cover_url(session, storage, work)
    await index_document(session, work_document(work, image_url=image_url))


async def unindex_work(session: AsyncSession, work: Work) -> None:
    await remove_document(session, DocKind.work, str(work_id_of(work)))


async def search_documents(
    session: AsyncSession, storage: Storage | None = None
) -> AsyncIterator[SearchDocument]:
    """Every work that belongs in the index (drafts too, found by their authors only), in id
    order, read in batches: what ``hub search reindex`` gathers from this domain."""
    last_id = 0
    while True:
        rows = list(
            await session.scalars(
                select(Work)
                .where(col(Work.work_id) > last_id, col(Work.deleted_at).is_(None))
                .order_by(col(Work.work_id))
                .limit(_BATCH)
            )
        )
        if not rows:
            return
        for work in rows:
            yield work_document(work, image_url=await _cover_url(session, storage, work))
        last_id = work_id_of(rows[-1])


async def count_search_documents(session: AsyncSession) -> int:
    """How many documents :func:`search_documents` yields (the reindex progress bar)."""
    found = await session.scalar(
        select(func.count()).select_from(Work).where(col(Work.deleted_at).is_(None))
    )
    return int(found or 0)
