"""The suggestion index of a web process: the library in memory, kept fresh.

:class:`PromptIndex` holds an entry per template (``hub.prompts.suggest.Entry``), an immutable
:class:`~hub.prompts.suggest.Snapshot` built from them in a thread, and the entries changed since
that build (the overlay, searched one by one). It reads the templates whose ``touched_at`` moved
since its last look: after each change made through this process (the services queue
:meth:`PromptIndex.refresh` after the commit) and every ``HUB_PROMPT_INDEX_REFRESH_SECONDS``
for changes made by other processes. The snapshot is rebuilt when there are changes and the last
build is ``HUB_PROMPT_INDEX_REBUILD_SECONDS`` old (or the overlay has grown large).

Popular published works are a second source (ADR 0018): the prompts of the
``WORKS_IN_SUGGESTIONS`` most remixed and liked works (``hub.works.popular``) make a small
snapshot of their own, re-read every ``HUB_PROMPT_INDEX_REBUILD_SECONDS``; their phrases complete
what the templates leave, and matching works are answered as ``kind: work`` items.

The composition root starts one per web process (``ctx.prompts``); see ADR 0017 for why the
suggestions are served from memory rather than from the database or the search engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from hub.db import Database, utcnow
from hub.errors import Unavailable
from hub.prompts.models import PromptTemplate, PromptVisibility
from hub.prompts.schemas import SuggestItem, SuggestOut
from hub.prompts.suggest import (
    EMPTY,
    Entry,
    Query,
    Snapshot,
    build_snapshot,
    complete,
    find_templates,
    make_entry,
    match_tags,
    parse_query,
)
from hub.settings import Settings
from hub.works.popular import PopularPrompt, popular_prompts

log = logging.getLogger(__name__)

T = PromptTemplate.metadata.tables[PromptTemplate.__tablename__].c
# Each look reads the rows touched since this long before the previous look began: a transaction
# commits a little after it stamped touched_at, and the clocks of processes differ a little.
MARGIN = timedelta(seconds=5)
MAX_OVERLAY = 2_000  # changes that make the next refresh rebuild at once
INLINE_ROWS = 200  # more changed rows than this are read into entries in a thread
# New entries after which the heap is frozen (see _freeze): a full collection of the garbage
# collector walks every tracked object, and 100,000 entries made each one take ~110 ms, which
# showed as the suggestions' p99.
FREEZE_AFTER = 10_000
# Popular works whose prompts feed the suggestions: enough for the completions people reach for,
# small enough to re-read and rebuild in a few milliseconds.
WORKS_IN_SUGGESTIONS = 2_000
_COLUMNS = (
    T.prompt_id,
    T.author_id,
    T.title,
    T.body,
    T.tags,
    T.visibility,
    T.official,
    T.usage_count,
    T.favorite_count,
    T.deleted_at,
    T.touched_at,
)


def entry_of(row: Any) -> Entry:
    return make_entry(
        prompt_id=row.prompt_id,
        author_id=row.author_id,
        title=row.title,
        body=row.body,
        tags=list(row.tags or []),
        public=row.visibility == PromptVisibility.public.value,
        official=bool(row.official),
        usage_count=row.usage_count,
        favorite_count=row.favorite_count,
    )


def work_entry(work: PopularPrompt) -> Entry:
    """A popular work as a suggestion entry: its prompt is literal text (braces are not
    variables), ranked by its remixes (uses) and likes."""
    return make_entry(
        prompt_id=work.work_id,
        author_id=work.author_id,
        title=work.title,
        body=work.prompt.replace("{", "{{").replace("}", "}}"),
        tags=[],
        public=True,
        official=False,
        usage_count=work.remix_count,
        favorite_count=work.like_count,
    )


def _works_snapshot(works: list[PopularPrompt]) -> Snapshot:
    return build_snapshot(work_entry(work) for work in works)


class PromptIndex:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._entries: dict[int, Entry] = {}
        self._overlay: dict[int, Entry | None] = {}
        self._snapshot: Snapshot = EMPTY
        self._floor: datetime | None = None  # rows touched before this were all seen
        self._touched: dict[int, datetime] = {}
        self._built_at = 0.0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._unfrozen = 0  # entries made since the heap was last frozen
        self._works: Snapshot = EMPTY  # popular published works (see the module docstring)
        self._works_at = 0.0

    @property
    def size(self) -> int:
        return len(self._entries)

    async def start(self) -> None:
        await self.refresh()
        await self.rebuild()
        await self.refresh_works()
        self._task = asyncio.create_task(self._loop(), name="prompt-index")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh(self) -> None:
        """Read the templates changed since the last look (all of them the first time)."""
        async with self._lock:
            stmt = select(*_COLUMNS)
            if self._floor is not None:
                stmt = stmt.where(T.touched_at >= self._floor)
            floor = utcnow() - MARGIN
            async with self._db.unit_of_work() as session:
                rows = (await session.execute(stmt)).all()
            # Rows of the margin come again and again: only a new touch is news.
            news = [row for row in rows if self._touched.get(row.prompt_id) != row.touched_at]
            live = [row for row in news if row.deleted_at is None]
            if len(live) > INLINE_ROWS:  # the first look, a bulk import: off the event loop
                made = await asyncio.to_thread(lambda: {r.prompt_id: entry_of(r) for r in live})
            else:
                made = {r.prompt_id: entry_of(r) for r in live}
            self._unfrozen += len(made)
            for row in news:
                self._touched[row.prompt_id] = row.touched_at
                self._apply(row.prompt_id, made.get(row.prompt_id))
            self._floor = floor

    def _apply(self, prompt_id: int, entry: Entry | None) -> None:
        """``entry`` None: the template was deleted."""
        if entry is None:
            if self._entries.pop(prompt_id, None) is not None or prompt_id in self._overlay:
                self._overlay[prompt_id] = None
            return
        if self._entries.get(prompt_id) != entry:
            self._entries[prompt_id] = entry
            self._overlay[prompt_id] = entry

    async def rebuild(self) -> None:
        """A new snapshot of every entry (built in a thread: the event loop keeps serving)."""
        basis = dict(self._entries)
        snapshot = await asyncio.to_thread(build_snapshot, list(basis.values()))
        self._snapshot = snapshot
        self._built_at = time.monotonic()
        for prompt_id, entry in list(self._overlay.items()):
            # What changed during the build stays in the overlay.
            if (entry is None and prompt_id not in basis) or basis.get(prompt_id) is entry:
                del self._overlay[prompt_id]
        if self._unfrozen >= FREEZE_AFTER:
            self._freeze()

    async def refresh_works(self) -> None:
        """Re-read the popular works and rebuild their snapshot (in a thread)."""
        async with self._db.unit_of_work() as session:
            works = await popular_prompts(session, limit=WORKS_IN_SUGGESTIONS)
        self._works = await asyncio.to_thread(_works_snapshot, works)
        self._works_at = time.monotonic()

    def _freeze(self) -> None:
        """Move what the process holds now (the entries above all) out of the collector's
        sight: full collections stop walking it. The index is long-lived, and its entries hold
        no reference cycles, so an entry dropped later is still freed by reference counting."""
        gc.collect()
        gc.freeze()
        self._unfrozen = 0

    def _rebuild_due(self) -> bool:
        if not self._overlay:
            return False
        age = time.monotonic() - self._built_at
        return (
            len(self._overlay) > MAX_OVERLAY or age >= self._settings.prompt_index_rebuild_seconds
        )

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.prompt_index_refresh_seconds)
            try:
                await self.refresh()
                if self._rebuild_due():
                    await self.rebuild()
                if time.monotonic() - self._works_at >= self._settings.prompt_index_rebuild_seconds:
                    await self.refresh_works()
            except Exception:
                log.exception("prompt index refresh failed")

    # --- queries ---------------------------------------------------------------------------------

    def suggest(self, q: str, *, user_id: int | None, limit: int) -> SuggestOut:
        """Completions, then tags, then templates, then works, at most ``limit`` of each."""
        query = parse_query(q)
        snapshot, overlay, works = self._snapshot, self._overlay, self._works
        completions = self._completions(snapshot, query, limit)
        if len(completions) < limit:  # the library's phrases first, then the works'
            completions += complete(works, query, limit)
        items = [
            SuggestItem(kind="completion", text=text, replaces=replaces)
            for text, replaces in list(dict.fromkeys(completions))[:limit]
        ]
        items += [SuggestItem(kind="tag", text=tag) for tag in self._tags(snapshot, query, limit)]
        items += [
            SuggestItem(kind="template", text=e.title, prompt_id=e.prompt_id, official=e.official)
            for e in find_templates(snapshot, overlay, query, user_id=user_id, limit=limit)
        ]
        items += [
            SuggestItem(
                kind="work", text=e.title, work_id=e.prompt_id, url=f"/artwork/{e.prompt_id}"
            )
            for e in find_templates(works, {}, query, user_id=None, limit=limit)
        ]
        return SuggestOut(items=items)

    def _fresh_public(self) -> list[Entry]:
        # Templates written since the build, until the next one counts them.
        return [e for e in self._overlay.values() if e is not None and e.public]

    def _completions(self, snapshot: Snapshot, query: Query, limit: int) -> list[tuple[str, str]]:
        found = complete(snapshot, query, limit)
        if query.fragment and len(found) < limit:
            fresh = {
                phrase
                for entry in self._fresh_public()
                for phrase in entry.phrases
                if phrase.startswith(query.fragment) and phrase != query.fragment
            }
            found += [(phrase, query.typed_fragment) for phrase in sorted(fresh)]
        return list(dict.fromkeys(found))[:limit]

    def _tags(self, snapshot: Snapshot, query: Query, limit: int) -> list[str]:
        found = match_tags(snapshot, query, limit)
        prefixes = [p for p in (query.fragment, query.last_word) if p]
        if prefixes and len(found) < limit:
            fresh = {
                tag
                for entry in self._fresh_public()
                for tag in entry.tags
                if any(tag.startswith(p) for p in prefixes)
            }
            found += sorted(fresh)
        return list(dict.fromkeys(found))[:limit]


async def start_prompt_index(db: Database, settings: Settings) -> PromptIndex:
    index = PromptIndex(db, settings)
    await index.start()
    return index


def get_index(index: PromptIndex | None) -> PromptIndex:
    if index is None:
        raise Unavailable("Prompt suggestions are not served by this process.")
    return index
