"""Prompt templates in the community search index (``hub.search``): public ones for everyone,
private ones for their author. The service keeps a template's document in step in the
transaction that changes it; :func:`search_documents` gives every live template to
``hub search reindex``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.prompts.models import PromptTemplate, PromptVisibility
from hub.search.service import DocKind, SearchDocument, index_document, remove_document

KINDS = (DocKind.prompt,)
_BATCH = 500
_T = PromptTemplate.metadata.tables[PromptTemplate.__tablename__]


def prompt_document(row: PromptTemplate) -> SearchDocument:
    # Tags and the negative prompt are found too; the body keeps its {variables} as written.
    parts = [row.body, " ".join(row.tags or []), row.negative_prompt]
    return SearchDocument(
        kind=DocKind.prompt,
        ref_id=str(row.prompt_id),
        title=row.title,
        body="\n".join(p for p in parts if p),
        url=f"/prompts/{row.prompt_id}",
        owner_id=row.author_id,
        public=row.visibility == PromptVisibility.public.value,
        created_at=row.created_at,
        category=row.category,
        model=(row.params or {}).get("model"),
    )


async def index_prompt(session: AsyncSession, row: PromptTemplate) -> None:
    await index_document(session, prompt_document(row))


async def unindex_prompt(session: AsyncSession, prompt_id: int) -> None:
    await remove_document(session, DocKind.prompt, str(prompt_id))


async def count_search_documents(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(_T).where(_T.c.deleted_at.is_(None))
    return int(await session.scalar(stmt) or 0)


async def search_documents(session: AsyncSession) -> AsyncIterator[SearchDocument]:
    """Every live template, in batches by id (keyset walk)."""
    after = 0
    while True:
        stmt = (
            select(_T)
            .where(_T.c.deleted_at.is_(None), _T.c.prompt_id > after)
            .order_by(_T.c.prompt_id)
            .limit(_BATCH)
        )
        batch = [PromptTemplate(**row._mapping) for row in (await session.execute(stmt)).all()]
        for row in batch:
            yield prompt_document(row)
        if len(batch) < _BATCH:
            return
        after = batch[-1].prompt_id or after
