"""Library images in the search index: private documents of their owner, found by prompt.

"My images" search (:func:`hub.storage.service.list_images`) runs on this index. Every writer
of the library keeps it in step in its own transaction: a saved image is indexed, a deleted or
replaced one removed; :func:`search_documents` gives every live image to ``hub search reindex``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.search.service import DocKind, SearchDocument, index_document, remove_document
from hub.storage.models import Image

KINDS = (DocKind.image,)
_BATCH = 500


def _media_path(key: str) -> str:
    # /media/{key} answers for every backend (files, or a redirect to the bucket), so the
    # index needs no backend to build a link, and the link never expires.
    return "/media/" + quote(key)


def image_document(image: Image) -> SearchDocument:
    return SearchDocument(
        kind=DocKind.image,
        ref_id=image.image_id,
        title="",
        body=image.prompt,
        url=_media_path(image.key),
        owner_id=image.owner_id,
        public=False,
        created_at=image.created_at,
        model=image.model,
        image_url=_media_path(image.thumb_key),
    )


async def index_image(session: AsyncSession, image: Image) -> None:
    await index_document(session, image_document(image))


async def unindex_images(session: AsyncSession, image_ids: Iterable[str]) -> None:
    for image_id in image_ids:
        await remove_document(session, DocKind.image, image_id)


async def count_search_documents(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(Image).where(col(Image.deleted_at).is_(None))
    return int(await session.scalar(stmt) or 0)


async def search_documents(session: AsyncSession) -> AsyncIterator[SearchDocument]:
    """Every live library image, in batches by id (keyset walk)."""
    after = ""
    while True:
        batch = list(
            await session.scalars(
                select(Image)
                .where(col(Image.deleted_at).is_(None), col(Image.image_id) > after)
                .order_by(col(Image.image_id))
                .limit(_BATCH)
            )
        )
        for image in batch:
            yield image_document(image)
        if len(batch) < _BATCH:
            return
        after = batch[-1].image_id
