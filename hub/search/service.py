"""The search index and its queries: what every domain calls to make its rows findable.

Domains index their own rows (they are above search in the layer order, so they call it; search
never reads their tables)::

    await index_document(session, SearchDocument(kind=DocKind.thread, ref_id=str(thread.id), ...))
    await remove_document(session, DocKind.thread, str(thread.id))

in the same transaction as the change, so the index never shows a rolled-back row. Documents are
rows of ``search_documents`` (:mod:`hub.search.models`); how words match on each database is in
:mod:`hub.search.query` and docs/search.md. Services flush and never commit.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from hub.db import settings_of, utcnow
from hub.errors import BadRequest
from hub.pagination import CURSOR_PATTERN
from hub.search.models import DocKind
from hub.search.query import DOCS, Match, has_words, match_for, parse_terms, postgres_vector
from hub.search.schemas import SearchItem, SearchPage, SearchQuery
from rooms import jsontext

__all__ = [
    "DocKind",
    "SearchDocument",
    "count_documents",
    "index_document",
    "index_documents",
    "matching_ref_ids",
    "prune_documents",
    "remove_document",
    "search",
]

# What is indexed of a document: enough for any title and post, and bounded so that one huge
# body cannot make a huge index entry (Postgres refuses a tsvector over 1 MB).
MAX_TITLE_CHARS = 500
MAX_BODY_CHARS = 32_000
SNIPPET_CHARS = 240


@dataclass(frozen=True)
class SearchDocument:
    """One findable thing, as its domain describes it."""

    kind: DocKind
    ref_id: str  # the row's id as text
    title: str
    body: str  # plain text or Markdown source (prompt, description, comment)
    url: str  # where a hit links to
    owner_id: int | None  # author / owner
    public: bool  # False: only owner_id finds it (drafts, "My images")
    created_at: datetime
    category: str | None = None
    model: str | None = None
    image_url: str | None = None


# --- writing -------------------------------------------------------------------------------------


def _clean(value: str, limit: int) -> str:
    # Postgres text cannot hold NUL; neither index needs it.
    return value.replace("\x00", " ")[:limit]


def _checked(doc: SearchDocument) -> SearchDocument:
    """ValueError for a document its domain built wrong (a bug, not user input)."""
    DocKind(doc.kind)
    if not 0 < len(doc.ref_id) <= 64:
        raise ValueError("ref_id must be 1 to 64 characters")
    if not 0 < len(doc.url) <= 1024:
        raise ValueError("url must be 1 to 1024 characters")
    if doc.image_url is not None and len(doc.image_url) > 1024:
        raise ValueError("image_url must be at most 1024 characters")
    for name in ("category", "model"):
        value = getattr(doc, name)
        if value is not None and len(value) > 64:
            raise ValueError(f"{name} must be at most 64 characters")
    if doc.created_at.tzinfo is None:
        raise ValueError("created_at must be an aware datetime")
    return doc


def _row(doc: SearchDocument, now: datetime, language: str | None) -> dict[str, Any]:
    title, body = _clean(doc.title, MAX_TITLE_CHARS), _clean(doc.body, MAX_BODY_CHARS)
    row: dict[str, Any] = {
        "kind": DocKind(doc.kind).value,
        "ref_id": doc.ref_id,
        "title": title,
        "body": body,
        "url": doc.url,
        "owner_id": doc.owner_id,
        "public": doc.public,
        "category": doc.category,
        "model": doc.model,
        "image_url": doc.image_url,
        "created_at": doc.created_at,
        "indexed_at": now,
    }
    if language is not None:
        row["tsv"] = postgres_vector(language, title, body)
    return row


async def index_documents(session: AsyncSession, docs: Iterable[SearchDocument]) -> int:
    """Insert or replace the documents (one statement); returns how many were written. A
    document named twice is written once, with the last version."""
    latest = {(DocKind(d.kind), d.ref_id): _checked(d) for d in docs}
    if not latest:
        return 0
    dialect = session.get_bind().dialect.name
    language = settings_of(session).search_language if dialect == "postgresql" else None
    now = utcnow()
    rows = [_row(doc, now, language) for doc in latest.values()]
    insert = postgresql.insert(DOCS) if dialect == "postgresql" else sqlite.insert(DOCS)
    stmt = insert.values(rows)
    updated = {k: stmt.excluded[k] for k in rows[0] if k not in ("kind", "ref_id")}
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["kind", "ref_id"], set_=updated)
    )
    return len(rows)


async def index_document(session: AsyncSession, doc: SearchDocument) -> None:
    """Insert or replace ``doc`` (by ``kind`` and ``ref_id``) in the caller's transaction."""
    await index_documents(session, [doc])


async def remove_document(session: AsyncSession, kind: DocKind, ref_id: str) -> None:
    """Take a document out of the index (nothing happens when it is not there)."""
    await session.execute(
        delete(DOCS).where(DOCS.c.kind == DocKind(kind).value, DOCS.c.ref_id == ref_id)
    )


async def prune_documents(
    session: AsyncSession, kinds: Sequence[DocKind], *, indexed_before: datetime
) -> int:
    """Remove documents of ``kinds`` not written since ``indexed_before`` (what a full
    reindex did not find again); returns how many."""
    result = await session.execute(
        delete(DOCS).where(
            DOCS.c.kind.in_([DocKind(k).value for k in kinds]),
            DOCS.c.indexed_at < indexed_before,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def count_documents(session: AsyncSession, kind: DocKind | None = None) -> int:
    stmt = select(func.count()).select_from(DOCS)
    if kind is not None:
        stmt = stmt.where(DOCS.c.kind == DocKind(kind).value)
    return int(await session.scalar(stmt) or 0)


# --- reading -------------------------------------------------------------------------------------


def _match(session: AsyncSession, q: str | None, *, ranked: bool) -> Match:
    dialect = session.get_bind().dialect.name
    language = settings_of(session).search_language
    return match_for(dialect, parse_terms(q), language=language, ranked=ranked)


def matching_ref_ids(
    session: AsyncSession, kind: DocKind, q: str | None, *, owner_id: int
) -> Select[tuple[str]]:
    """A subquery of the ``ref_id`` of ``owner_id``'s documents of ``kind`` that match ``q``,
    for a domain to filter its own listing in one statement (``col(Image.image_id).in_(...)``).
    """
    match = _match(session, q, ranked=False)
    return select(DOCS.c.ref_id).where(
        DOCS.c.kind == DocKind(kind).value, DOCS.c.owner_id == owner_id, *match.where
    )


def _visible(viewer_id: int | None) -> ColumnElement[bool]:
    if viewer_id is None:
        return DOCS.c.public.is_(True)
    return or_(DOCS.c.public.is_(True), DOCS.c.owner_id == viewer_id)


def _filters(query: SearchQuery) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if query.kind_list:
        found.append(DOCS.c.kind.in_([k.value for k in query.kind_list]))
    if query.category is not None:
        found.append(DOCS.c.category == query.category)
    if query.model is not None:
        found.append(DOCS.c.model == query.model)
    if query.since is not None:
        found.append(DOCS.c.created_at >= query.since)
    if query.until is not None:
        found.append(DOCS.c.created_at < query.until)
    return found


# Cursors: ["r", score, created_at, doc_id] after a relevance page, ["n", created_at, doc_id]
# after a newest-first one; a cursor of the other order is refused like a forged one.


def _encode_cursor(parts: list[Any]) -> str:
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> BadRequest:
    return BadRequest("The cursor is not valid; start again without it.")


def _decode_cursor(cursor: str, *, ranked: bool) -> tuple[float, datetime, int]:
    if not re.fullmatch(CURSOR_PATTERN, cursor) or len(cursor) > 200:
        raise _bad_cursor()
    try:
        parts = jsontext.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise _bad_cursor() from None
    expected = 4 if ranked else 3
    if not isinstance(parts, list) or len(parts) != expected or parts[0] != "rn"[not ranked]:
        raise _bad_cursor()
    score = parts[1] if ranked else 0.0
    created, doc_id = parts[-2], parts[-1]
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise _bad_cursor()
    if isinstance(doc_id, bool) or not isinstance(doc_id, int) or not 0 < doc_id < 2**31:
        raise _bad_cursor()  # doc_id is a 32-bit INTEGER: a bigger one would fail to bind
    if not isinstance(created, str):
        raise _bad_cursor()
    try:
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            raise ValueError("naive")
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad_cursor() from None
    return float(score), moment, doc_id


def _after(
    score: ColumnElement[float], ranked: bool, cursor: tuple[float, datetime, int]
) -> ColumnElement[bool]:
    last_score, created, doc_id = cursor
    older = or_(
        DOCS.c.created_at < created, and_(DOCS.c.created_at == created, DOCS.c.doc_id < doc_id)
    )
    if not ranked:
        return older
    return or_(score < last_score, and_(score == last_score, older))


def _snippet(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"


def _item(row: Any) -> SearchItem:
    return SearchItem(
        kind=DocKind(row.kind),
        ref_id=row.ref_id,
        title=row.title,
        snippet=_snippet(row.body),
        url=row.url,
        image_url=row.image_url,
        owner_id=row.owner_id,
        public=row.public,
        category=row.category,
        model=row.model,
        created_at=row.created_at,
    )


_COLUMNS = [c for c in DOCS.c if c.name != "tsv"]


async def search(session: AsyncSession, viewer_id: int | None, query: SearchQuery) -> SearchPage:
    """One page of what ``viewer_id`` (None: an anonymous visitor) may find: public documents
    and their own private ones. Ranked by relevance when the query has words (ties and word-less
    queries newest first), cursor-paged; BadRequest for a cursor this order did not make."""
    terms = parse_terms(query.q)
    ranked = query.sort != "newest" and has_words(terms)
    match = _match(session, query.q, ranked=ranked)
    score = match.score.label("score")
    source: Any = DOCS
    if match.ranked is not None:
        source = DOCS.join(match.ranked, match.ranked.c.doc_id == DOCS.c.doc_id)
    stmt = (
        select(*_COLUMNS, score)
        .select_from(source)
        .where(*match.where, _visible(viewer_id), *_filters(query))
    )
    if query.cursor:
        stmt = stmt.where(_after(match.score, ranked, _decode_cursor(query.cursor, ranked=ranked)))
    order = [DOCS.c.created_at.desc(), DOCS.c.doc_id.desc()]
    if ranked:
        order.insert(0, match.score.desc())
    rows = list((await session.execute(stmt.order_by(*order).limit(query.limit + 1))).all())
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        key = [last.created_at.isoformat(), last.doc_id]
        next_cursor = _encode_cursor(["r", float(last.score), *key] if ranked else ["n", *key])
    return SearchPage(items=[_item(r) for r in rows], next_cursor=next_cursor)
