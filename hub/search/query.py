"""From the words someone typed to SQL, per database.

The query language is the same on both databases: whitespace-separated terms that must all
match, ``"quoted phrases"`` kept together, and ``-term`` / ``-"phrase"`` to exclude (at most
:data:`MAX_TERMS` terms). How a term matches differs (docs/search.md):

* SQLite (FTS5 ``trigram``): a term matches where it occurs as a substring, case-insensitively
  (``fox`` finds "Firefox"; ``橘猫`` finds "一只橘猫"). The trigram index needs 3 characters,
  so shorter terms are matched with ``LIKE`` over the rows the other terms (and filters) leave.
* Postgres (``tsvector``, ``websearch_to_tsquery``): a term matches whole words (stemmed when
  ``HUB_SEARCH_LANGUAGE`` is a language), ranked by ``ts_rank``. Its parser does not split
  Chinese, Japanese, Korean or Thai into words, and drops terms without letters or digits, so
  those terms are matched as substrings (``LIKE``) instead.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import (
    Float,
    Integer,
    Table,
    cast,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE

from hub.search.models import FTS_TABLE, SearchEntry

DOCS: Table = SearchEntry.metadata.tables[SearchEntry.__tablename__]

MAX_TERMS = 8
# The trigram tokenizer indexes runs of 3 characters; a shorter term cannot use the index.
TRIGRAM = 3

_TERM_RE = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')
# Scripts written without spaces between words: Postgres' parser keeps a whole run as one word.
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


@dataclass(frozen=True)
class Term:
    text: str
    negated: bool = False


def parse_terms(q: str | None) -> list[Term]:
    """The terms of ``q`` (at most :data:`MAX_TERMS`; NUL characters dropped, case kept)."""
    terms: list[Term] = []
    for match in _TERM_RE.finditer((q or "").replace("\x00", " ")):
        quoted_neg, quoted, bare_neg, bare = match.groups()
        if quoted is not None:
            phrase = " ".join(quoted.split())
            if phrase:
                terms.append(Term(phrase, negated=bool(quoted_neg)))
        else:  # a lone "-" is the term "-": the pattern gives it no sign
            terms.append(Term(bare, negated=bool(bare_neg)))
    return terms[:MAX_TERMS]


def has_words(terms: list[Term]) -> bool:
    """Whether a query asks for something (not only exclusions): then results rank by match."""
    return any(not t.negated for t in terms)


def _unspaced(term: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(_UNSPACED) for ch in term if not ch.isascii())


def needs_substring_on_postgres(term: str) -> bool:
    """Terms Postgres' word parser cannot match: unspaced scripts, or no letters and digits."""
    return _unspaced(term) or not any(ch.isalnum() for ch in term)


def _like_pattern(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(term: str) -> ColumnElement[bool]:
    """The title or the body contains ``term`` (case-insensitive; wildcards are literal)."""
    pattern = _like_pattern(term)
    return or_(
        func.lower(DOCS.c.title).like(pattern, escape="\\"),
        func.lower(DOCS.c.body).like(pattern, escape="\\"),
    )


def _substring(term: Term) -> ColumnElement[bool]:
    return not_(contains(term.text)) if term.negated else contains(term.text)


@dataclass(frozen=True)
class Match:
    """How a query narrows and ranks documents: ``where`` for the statement, ``score`` (higher
    is better) and ``ranked``, the FTS5 matches to join on SQLite."""

    where: list[ColumnElement[bool]]
    score: ColumnElement[float]
    ranked: CTE | None = None


# --- SQLite: FTS5 trigram ------------------------------------------------------------------------


def _fts5_phrase(term: str) -> str:
    # Inside "...", FTS5 takes every character literally except '"', which is doubled.
    return '"' + term.replace('"', '""') + '"'


def fts5_expression(terms: list[Term]) -> str | None:
    """The FTS5 MATCH string of the terms the trigram index can serve, or None when none can
    (no positive term of 3+ characters: FTS5's NOT needs something on its left)."""
    long_terms = [t for t in terms if len(t.text) >= TRIGRAM]
    positive = [_fts5_phrase(t.text) for t in long_terms if not t.negated]
    if not positive:
        return None
    negative = [_fts5_phrase(t.text) for t in long_terms if t.negated]
    expression = " AND ".join(positive)
    return " NOT ".join([f"({expression})", *negative]) if negative else expression


def sqlite_match(terms: list[Term], *, ranked: bool) -> Match:
    expression = fts5_expression(terms)
    # Terms the index did not take: short ones, and exclusions when nothing positive is long.
    by_like = [t for t in terms if expression is None or len(t.text) < TRIGRAM]
    where = [_substring(t) for t in by_like]
    if expression is None:
        return Match(where=where, score=cast(literal(0.0), Float))
    fts_match = text(f"{FTS_TABLE} MATCH :fts_query").bindparams(fts_query=expression)
    if not ranked:
        matched = select(text(f"{FTS_TABLE}.rowid")).select_from(text(FTS_TABLE)).where(fts_match)
        return Match(where=[DOCS.c.doc_id.in_(matched), *where], score=cast(literal(0.0), Float))
    # bm25() only works in the statement that runs MATCH: rank there, in a CTE the planner
    # keeps as it is (MATERIALIZED), then page over its rows. bm25 is lower for better matches.
    cte = (
        select(
            literal_column(f"{FTS_TABLE}.rowid", Integer).label("doc_id"),
            literal_column(f"-bm25({FTS_TABLE}, 2.0, 1.0)", Float).label("score"),
        )
        .select_from(text(FTS_TABLE))
        .where(fts_match)
        .cte("ranked")
        .prefix_with("MATERIALIZED")
    )
    return Match(where=where, score=cte.c.score, ranked=cte)


# --- Postgres: tsvector --------------------------------------------------------------------------


def regconfig(language: str) -> ColumnElement[object]:
    return cast(literal(language), REGCONFIG)


def websearch_text(terms: list[Term]) -> str:
    """The ``websearch_to_tsquery`` input of ``terms``: each quoted, so that a term is a word or
    a phrase and never an operator (a bare ``or`` would otherwise join its neighbours)."""
    parts = []
    for term in terms:
        phrase = '"' + term.text.replace('"', " ") + '"'
        parts.append(("-" if term.negated else "") + phrase)
    return " ".join(parts)


def postgres_match(terms: list[Term], *, language: str) -> Match:
    by_words = [t for t in terms if not needs_substring_on_postgres(t.text)]
    where = [_substring(t) for t in terms if needs_substring_on_postgres(t.text)]
    if not by_words:
        return Match(where=where, score=cast(literal(0.0), Float))
    query = func.websearch_to_tsquery(regconfig(language), websearch_text(by_words))
    where.insert(0, DOCS.c.tsv.op("@@")(query))
    score = cast(func.ts_rank(DOCS.c.tsv, query), Float) if has_words(by_words) else None
    return Match(where=where, score=score if score is not None else cast(literal(0.0), Float))


def postgres_vector(language: str, title: str, body: str) -> ColumnElement[str]:
    """The ``tsv`` value of a document: title words weigh more (A) than body words (B)."""
    config = regconfig(language)
    # setweight takes the one-byte "char" type, which a bound VARCHAR does not cast to.
    title_vector = func.setweight(func.to_tsvector(config, title), literal_column("'A'"))
    body_vector = func.setweight(func.to_tsvector(config, body), literal_column("'B'"))
    return title_vector.op("||")(body_vector)


def match_for(dialect: str, terms: list[Term], *, language: str, ranked: bool) -> Match:
    if not terms:
        return Match(where=[], score=cast(literal(0.0), Float))
    if dialect == "postgresql":
        return postgres_match(terms, language=language)
    return sqlite_match(terms, ranked=ranked)
