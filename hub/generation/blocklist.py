"""The prompt block-list: terms moderators forbid in prompts, checked before a job is queued.

A term is a word or a phrase, in any script. Prompt and terms are compared in one normal form
(Unicode NFKC, case-folded, runs of whitespace as one space), so ``Dragon``, ``DRAGON`` and
its full-width form are one term. A term that begins (ends) with a Latin letter or digit must
begin (end) at a word boundary, so ``ass`` does not block ``class``; Chinese and Japanese text
has no spaces between words, so a term in those scripts matches anywhere (docs/moderation.md).

The list is read from ``blocked_terms`` and kept per process for ``CACHE_SECONDS`` (every job
submission reads it); a change made through this module clears this process's copy at once, other
processes see it within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import re
import time
import unicodedata
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import ValidationFailed
from hub.generation.errors import PromptBlocked
from hub.generation.models import BlockedTerm
from hub.outbox import after_commit

CACHE_SECONDS = 30.0
TERM_MAX = 200
_SPACES = re.compile(r"\s+")
_ASCII_WORD = re.compile(r"[0-9a-z]")


def normalize(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _pattern(key: str) -> re.Pattern[str]:
    head = r"(?<![0-9a-z])" if _ASCII_WORD.match(key[0]) else ""
    tail = r"(?![0-9a-z])" if _ASCII_WORD.match(key[-1]) else ""
    return re.compile(head + re.escape(key) + tail)


@dataclass(frozen=True)
class _Matcher:
    terms: tuple[tuple[str, re.Pattern[str]], ...]

    def find(self, text: str) -> str | None:
        folded = normalize(text)
        for term, pattern in self.terms:
            if pattern.search(folded):
                return term
        return None


# engine -> (monotonic expiry, matcher); weak keys so that a disposed app's entry goes with it.
_cache: weakref.WeakKeyDictionary[Engine, tuple[float, _Matcher]] = weakref.WeakKeyDictionary()


def _engine(session: AsyncSession) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _forget(session: AsyncSession) -> None:
    """Drops this process's copy now and again after commit (a reader in between may have
    cached the list as it was before this transaction)."""
    engine = _engine(session)
    _cache.pop(engine, None)

    async def again() -> None:
        _cache.pop(engine, None)

    after_commit(session, again)


async def _matcher(session: AsyncSession) -> _Matcher:
    engine = _engine(session)
    cached = _cache.get(engine)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    rows = await session.execute(select(col(BlockedTerm.term), col(BlockedTerm.term_key)))
    matcher = _Matcher(tuple((term, _pattern(key)) for term, key in rows.all()))
    _cache[engine] = (now + CACHE_SECONDS, matcher)
    return matcher


async def check_prompts(session: AsyncSession, prompts: Iterable[str]) -> None:
    """PromptBlocked (422 ``prompt_blocked``, ``details.term``) when any prompt holds a term."""
    matcher = await _matcher(session)
    if not matcher.terms:
        return
    for prompt in prompts:
        term = matcher.find(prompt) if prompt else None
        if term is not None:
            raise PromptBlocked(f"The prompt contains the blocked term {term!r}.", term=term)


# --- the list (moderators; the routes live in hub.moderation) ---------------------------------


def _check_term(term: str) -> str:
    key = normalize(term)
    if not key or len(term) > TERM_MAX:
        raise ValidationFailed(
            fields=[
                {
                    "field": "term",
                    "message": f"a term is 1..{TERM_MAX} characters, not only spaces",
                    "type": "term_length",
                }
            ]
        )
    return key


async def list_terms(session: AsyncSession) -> Sequence[BlockedTerm]:
    stmt = select(BlockedTerm).order_by(col(BlockedTerm.term_key))
    return (await session.scalars(stmt)).all()


async def get_term(session: AsyncSession, term_id: int) -> BlockedTerm | None:
    return await session.get(BlockedTerm, term_id)


async def find_term(session: AsyncSession, term: str) -> BlockedTerm | None:
    key = _check_term(term)
    found: BlockedTerm | None = await session.scalar(
        select(BlockedTerm).where(col(BlockedTerm.term_key) == key)
    )
    return found


async def add_term(
    session: AsyncSession, *, term: str, created_by: int | None
) -> tuple[BlockedTerm, bool]:
    """The entry for ``term`` and whether it is new (adding a term again is a no-op). Callers
    check the permission; :mod:`hub.moderation` does, and records the change."""
    key = _check_term(term)
    existing = await find_term(session, term)
    if existing is not None:
        return existing, False
    row = BlockedTerm(term=term.strip(), term_key=key, created_by=created_by)
    session.add(row)
    await session.flush()
    _forget(session)
    return row, True


async def remove_term(session: AsyncSession, row: BlockedTerm) -> None:
    await session.delete(row)
    await session.flush()
    _forget(session)
