"""Threads and comments in the search index (hub.search), written in the transaction of each
change: a new or edited thread or comment is (re)indexed, a deleted one removed, so search never
shows what the forum would answer 404 for. :func:`search_documents` gives them all to
``hub search reindex``.

A comment's document carries its thread's title (a hit says where it was said), category and URL,
so a thread's new title reindexes its comments too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.forum.models import Category, Comment, Thread
from hub.forum.urls import comment_id_of, comment_url, thread_id_of, thread_url
from hub.search.service import DocKind, SearchDocument, index_documents, remove_document

KINDS = (DocKind.thread, DocKind.comment)
_BATCH = 500


def thread_document(thread: Thread, category: str) -> SearchDocument:
    thread_id = thread_id_of(thread)
    return SearchDocument(
        kind=DocKind.thread,
        ref_id=str(thread_id),
        title=thread.title,
        body=thread.body,
        url=thread_url(thread_id, thread.slug),
        owner_id=thread.author_id,
        # Hidden or held: found by its author only, like a draft work.
        public=thread.hidden_at is None,
        created_at=thread.created_at,
        category=category,
    )


def comment_document(comment: Comment, thread: Thread, category: str) -> SearchDocument:
    comment_id = comment_id_of(comment)
    return SearchDocument(
        kind=DocKind.comment,
        ref_id=str(comment_id),
        title=thread.title,
        body=comment.body,
        url=comment_url(thread, comment_id),
        owner_id=comment.author_id,
        public=comment.hidden_at is None and thread.hidden_at is None,
        created_at=comment.created_at,
        category=category,
    )


async def _category(session: AsyncSession, thread: Thread) -> str:
    category = await session.get(Category, thread.category_id)
    return category.slug if category is not None else ""


async def _live_comments(
    session: AsyncSession, thread_ids: Sequence[int], after: int
) -> list[Comment]:
    stmt = (
        select(Comment)
        .where(
            col(Comment.thread_id).in_(thread_ids),
            col(Comment.deleted_at).is_(None),
            col(Comment.comment_id) > after,
        )
        .order_by(col(Comment.comment_id))
        .limit(_BATCH)
    )
    return list(await session.scalars(stmt))


async def index_thread(session: AsyncSession, thread: Thread, *, with_comments: bool) -> None:
    """(Re)index the thread, and its live comments too when ``with_comments`` (its title,
    slug or category, which they carry, changed)."""
    category = await _category(session, thread)
    await index_documents(session, [thread_document(thread, category)])
    after = 0
    while with_comments:
        batch = await _live_comments(session, [thread_id_of(thread)], after)
        await index_documents(session, [comment_document(c, thread, category) for c in batch])
        if len(batch) < _BATCH:
            return
        after = comment_id_of(batch[-1])


async def unindex_thread(session: AsyncSession, thread: Thread) -> None:
    """Take the thread and all its comments out of the index (the thread was deleted)."""
    thread_id = thread_id_of(thread)
    await remove_document(session, DocKind.thread, str(thread_id))
    comment_ids = await session.scalars(
        select(col(Comment.comment_id)).where(col(Comment.thread_id) == thread_id)
    )
    for comment_id in comment_ids:
        await remove_document(session, DocKind.comment, str(comment_id))


async def index_comment(session: AsyncSession, comment: Comment, thread: Thread) -> None:
    await index_documents(
        session, [comment_document(comment, thread, await _category(session, thread))]
    )


async def unindex_comment(session: AsyncSession, comment: Comment) -> None:
    await remove_document(session, DocKind.comment, str(comment_id_of(comment)))


async def count_search_documents(session: AsyncSession) -> int:
    """How many documents :func:`search_documents` yields (for the reindex progress bar)."""
    threads = select(func.count()).where(col(Thread.deleted_at).is_(None))
    comments = (
        select(func.count())
        .select_from(Comment)
        .join(Thread, col(Thread.thread_id) == col(Comment.thread_id))
        .where(col(Comment.deleted_at).is_(None), col(Thread.deleted_at).is_(None))
    )
    return int(await session.scalar(threads) or 0) + int(await session.scalar(comments) or 0)


async def search_documents(session: AsyncSession) -> AsyncIterator[SearchDocument]:
    """Every live thread and the live comments of each, walked in batches by id (keyset, no
    OFFSET and no long-lived cursor)."""
    categories = {
        c.category_id: c.slug for c in await session.scalars(select(Category)) if c.category_id
    }
    after = 0
    while True:
        stmt = (
            select(Thread)
            .where(col(Thread.deleted_at).is_(None), col(Thread.thread_id) > after)
            .order_by(col(Thread.thread_id))
            .limit(_BATCH)
        )
        threads = list(await session.scalars(stmt))
        for thread in threads:
            category = categories.get(thread.category_id, "")
            yield thread_document(thread, category)
        async for doc in _comment_documents(session, threads, categories):
            yield doc
        if len(threads) < _BATCH:
            return
        after = thread_id_of(threads[-1])


async def _comment_documents(
    session: AsyncSession, threads: list[Thread], categories: dict[int, str]
) -> AsyncIterator[SearchDocument]:
    by_id = {thread_id_of(t): t for t in threads}
    after = 0
    while by_id:
        batch = await _live_comments(session, list(by_id), after)
        for comment in batch:
            thread = by_id[comment.thread_id]
            yield comment_document(comment, thread, categories.get(thread.category_id, ""))
        if len(batch) < _BATCH:
            return
        after = comment_id_of(batch[-1])
