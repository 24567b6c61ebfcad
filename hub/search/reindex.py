"""``hub search reindex``: rebuild the index from every domain that provides documents.

Each domain that indexes rows offers ``search_documents(session)`` (an async iterator of
:class:`~hub.search.service.SearchDocument`, read in keyset batches) and, for the progress bar,
``count_search_documents(session)``. The command line (the top layer, which may import every
domain) names them in ``hub.cli.SEARCH_PROVIDERS`` and hands them to :func:`reindex`.

Per provider: write every document it yields, committing every :data:`BATCH` so that a long
rebuild never holds SQLite's write lock for long, then remove the documents of its kinds that
were not written again (rows deleted while the index missed it). Live writes keep going during
a rebuild: they are newer than its start, so nothing they write is removed.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import Database, utcnow
from hub.search.models import DocKind
from hub.search.service import SearchDocument, index_documents, prune_documents

BATCH = 500

Documents = Callable[[AsyncSession], AsyncIterator[SearchDocument]]
Count = Callable[[AsyncSession], Awaitable[int]]


@dataclass(frozen=True)
class Provider:
    name: str
    kinds: tuple[DocKind, ...]
    documents: Documents
    count: Count | None = None


@dataclass(frozen=True)
class Outcome:
    name: str
    indexed: int
    removed: int


class Progress(Protocol):
    def start(self, name: str, total: int | None) -> None: ...
    def advance(self, done: int) -> None: ...
    def finish(self, outcome: Outcome) -> None: ...


class TextProgress:
    """A one-line bar per provider on a terminal (``users [#####.....] 500/1000``); on a pipe
    or a log, only each provider's final line."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.name = ""
        self.total: int | None = None

    def start(self, name: str, total: int | None) -> None:
        self.name, self.total = name, total
        self.advance(0)

    def _line(self, done: int) -> str:
        if not self.total:
            return f"{self.name:<10} {done} documents"
        filled = min(self.WIDTH, self.WIDTH * done // self.total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return f"{self.name:<10} [{bar}] {done}/{self.total}"

    def advance(self, done: int) -> None:
        if self.live:
            self.stream.write("\r" + self._line(done))
            self.stream.flush()

    def finish(self, outcome: Outcome) -> None:
        prefix = "\r" if self.live else ""
        self.stream.write(
            f"{prefix}{self._line(outcome.indexed)}: {outcome.indexed} indexed, "
            f"{outcome.removed} stale removed\n"
        )
        self.stream.flush()


async def _rebuild(session: AsyncSession, provider: Provider, progress: Progress) -> Outcome:
    started = utcnow()
    total = await provider.count(session) if provider.count is not None else None
    progress.start(provider.name, total)
    indexed = 0
    batch: list[SearchDocument] = []
    async for doc in provider.documents(session):
        if DocKind(doc.kind) not in provider.kinds:
            raise ValueError(f"{provider.name} yielded a {doc.kind} document")
        batch.append(doc)
        if len(batch) >= BATCH:
            indexed += await index_documents(session, batch)
            batch.clear()
            await session.commit()
            progress.advance(indexed)
    indexed += await index_documents(session, batch)
    removed = await prune_documents(session, provider.kinds, indexed_before=started)
    await session.commit()
    outcome = Outcome(provider.name, indexed, removed)
    progress.finish(outcome)
    return outcome


async def reindex(
    db: Database, providers: Sequence[Provider], progress: Progress | None = None
) -> list[Outcome]:
    """Rebuild the documents of every provider, one after the other."""
    progress = progress or TextProgress()
    outcomes = []
    for provider in providers:
        async with db.unit_of_work() as session:
            outcomes.append(await _rebuild(session, provider, progress))
    return outcomes
