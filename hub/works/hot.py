"""The hot feed's sort key, ``works.hot_score`` (formula and constants: docs/community.md).

    hot = log10(1 + likes + 2 * favorites + comments + 3 * remixes)
          + (published_at - 2026-01-01T00:00Z) / 45000 s

The second term is the time decay written so that it never needs rewriting: every work's
engagement decays by the same factor as time passes (a factor of 10 per 45,000 s, 12.5 hours), so
their order never changes with time alone and the stored key stays right until the work's own
counters move. That is why a like can refresh one row (:func:`refresh_hot`) instead of the feed
rewriting 100k rows every few minutes, and reading the feed is an ordered index scan.

Kept fresh two ways: services that move a work's counters or its state call :func:`refresh_hot`
in the same transaction (works: publish, like, favorite, unpublish), and the
feeds component (:mod:`hub.works.component`) periodically runs :func:`recompute_hot` over
the recent works, which repairs any counter moved by a path that did not call it and copies
the forum's comment count of each work's thread onto the work (the forum sits below works).
``hub works recompute-hot`` recomputes every work (after a change of the constants).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import Database
from hub.forum.service import comment_counts
from hub.outbox import after_commit
from hub.works.feed_cache import bump_feed_epoch
from hub.works.models import Work, WorkStatus

WORKS: Table = Work.metadata.tables[Work.__tablename__]
_W = WORKS.c

# The constants of the formula (docs/community.md explains each).
HOT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
HOT_DECAY_SECONDS = 45_000.0  # engagement x10 is worth 12.5 hours of recency
WEIGHT_LIKE = 1.0
WEIGHT_FAVORITE = 2.0  # keeping a work says more than liking it
WEIGHT_COMMENT = 1.0
WEIGHT_REMIX = 3.0  # someone built on it

_SET_SCORE = (
    update(WORKS)
    .where(_W.work_id == bindparam("w_id"))
    .values(hot_score=bindparam("w_score"))
    .execution_options(synchronize_session=False)
)
_SET_COMMENTS = (
    update(WORKS)
    .where(_W.work_id == bindparam("w_id"))
    .values(comment_count=bindparam("w_comments"))
    .execution_options(synchronize_session=False)
)
_COUNTERS = (
    _W.work_id,
    _W.thread_id,
    _W.status,
    _W.published_at,
    _W.like_count,
    _W.favorite_count,
    _W.comment_count,
    _W.remix_count,
    _W.hot_score,
)


def hot_score(
    *,
    published_at: datetime | None,
    likes: int = 0,
    favorites: int = 0,
    comments: int = 0,
    remixes: int = 0,
) -> float:
    """The formula; 0.0 for a work that was never published."""
    if published_at is None:
        return 0.0
    if published_at.tzinfo is None:  # SQLite hands back naive UTC through some paths
        published_at = published_at.replace(tzinfo=UTC)
    engagement = (
        WEIGHT_LIKE * max(likes, 0)
        + WEIGHT_FAVORITE * max(favorites, 0)
        + WEIGHT_COMMENT * max(comments, 0)
        + WEIGHT_REMIX * max(remixes, 0)
    )
    age = (published_at - HOT_EPOCH).total_seconds()
    return math.log10(1.0 + engagement) + age / HOT_DECAY_SECONDS


def _score_of(row: Any, comments: int | None = None) -> float:
    if row.status != WorkStatus.published.value:
        return 0.0
    return hot_score(
        published_at=row.published_at,
        likes=row.like_count,
        favorites=row.favorite_count,
        comments=row.comment_count if comments is None else comments,
        remixes=row.remix_count,
    )


async def _sync_comment_counts(session: AsyncSession, rows: Sequence[Any]) -> dict[int, int]:
    """Comments live in the forum, which sits below works and cannot move ``comment_count``
    itself: the periodic repair copies each work's thread count onto its row (the forum's
    count is the truth; the column is a copy for the feed). Returns work id -> comments."""
    threads = {row.work_id: row.thread_id for row in rows if row.thread_id is not None}
    live = await comment_counts(session, sorted(set(threads.values())))
    counts = {work_id: live.get(thread_id, 0) for work_id, thread_id in threads.items()}
    moved = [
        {"w_id": row.work_id, "w_comments": counts[row.work_id]}
        for row in rows
        if row.work_id in counts and counts[row.work_id] != row.comment_count
    ]
    if moved:
        await session.execute(_SET_COMMENTS, moved)
    return counts


async def refresh_hot(session: AsyncSession, work_id: int) -> None:
    """Recompute one work's hot score from its row as this transaction sees it. Call it after
    moving the work's counters or changing its state, in the same transaction: the counter
    ``UPDATE`` has locked the row, so concurrent likes refresh one after another and the last
    one sees every count. Unknown ids are ignored."""
    row = (await session.execute(select(*_COUNTERS).where(_W.work_id == work_id))).first()
    if row is None:
        return
    score = _score_of(row)
    if score != row.hot_score:
        await session.execute(_SET_SCORE, {"w_id": work_id, "w_score": score})
    # The cached feed pages of this process may now be out of date (hub.works.feed_cache).
    after_commit(session, bump_feed_epoch)


ProgressFn = Callable[[int, int], None]


async def recompute_hot(
    db: Database,
    *,
    published_since: datetime | None = None,
    batch_size: int = 1000,
    progress: ProgressFn | None = None,
) -> int:
    """Recompute the hot score of every published work (or those published since
    ``published_since``), ``batch_size`` rows per transaction so that writers are never held up
    for long; returns how many scores changed. ``progress(done, total)`` after each batch."""
    where = [_W.status == WorkStatus.published.value]
    if published_since is not None:
        where.append(_W.published_at >= published_since)
    async with db.unit_of_work() as session:
        total = int(await session.scalar(select(func.count()).where(*where)) or 0)
    done = changed = 0
    last_id = 0
    while True:
        async with db.unit_of_work() as session:
            stmt = (
                select(*_COUNTERS)
                .where(*where, _W.work_id > last_id)
                .order_by(_W.work_id)
                .limit(batch_size)
            )
            rows = (await session.execute(stmt)).all()
            comments = await _sync_comment_counts(session, rows)
            updates = [
                {"w_id": row.work_id, "w_score": score}
                for row in rows
                if (score := _score_of(row, comments.get(row.work_id))) != row.hot_score
            ]
            if updates:
                await session.execute(_SET_SCORE, updates)
                after_commit(session, bump_feed_epoch)
        if not rows:
            break
        last_id = rows[-1].work_id
        done += len(rows)
        changed += len(updates)
        if progress is not None:
            progress(min(done, max(total, done)), max(total, done))
    return changed
