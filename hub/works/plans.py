"""The query plans of the feed reads, to check that each one is an ordered scan of its partial
index that reads no table rows and sorts nothing (docs/community.md, "Reading cheaply").

``tests/hub/works/test_plans.py`` asserts it on both databases; ``bench/feed.py`` prints the
plans at 100k works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.works.feeds import FeedSort, encode_feed_cursor, feed_statement, paged

# A cursor in the middle of any feed (plans do not depend on where it points).
_MIDDLE = {
    FeedSort.latest: encode_feed_cursor(FeedSort.latest, datetime(2026, 6, 1, tzinfo=UTC), 50),
    FeedSort.hot: encode_feed_cursor(FeedSort.hot, 100.0, 50),
}

# Each read of a feed and the partial index it must scan.
FEED_READS: dict[str, tuple[FeedSort, dict[str, Any], str]] = {
    "latest": (FeedSort.latest, {}, "ix_works_listed_latest"),
    "hot": (FeedSort.hot, {}, "ix_works_listed_hot"),
    "latest in a category": (
        FeedSort.latest,
        {"category": "showcase"},
        "ix_works_listed_category_latest",
    ),
    "hot in a category": (FeedSort.hot, {"category": "showcase"}, "ix_works_listed_category_hot"),
    "one author (profile)": (FeedSort.latest, {"authors": [1]}, "ix_works_listed_author"),
}


def feed_reads(*, with_cursor: bool) -> dict[str, tuple[Select[Any], str]]:
    """Each feed read's statement (first page, or a page after a cursor) and its index."""
    reads = {}
    for name, (sort, narrowing, index) in FEED_READS.items():
        cursor = _MIDDLE[sort] if with_cursor else None
        stmt = paged(feed_statement(sort, **narrowing), sort, cursor, 20)
        reads[name] = (stmt, index)
    return reads


async def explain(session: AsyncSession, stmt: Select[Any]) -> str:
    """The database's plan of ``stmt``, one line per step (values inlined, as both databases
    plan a statement whose values they can see)."""
    dialect = session.get_bind().dialect
    sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.name == "sqlite":
        rows = (await session.execute(text("EXPLAIN QUERY PLAN " + sql))).all()
        return "\n".join(str(row[-1]) for row in rows)
    rows = (await session.execute(text("EXPLAIN " + sql))).all()
    return "\n".join(str(row[0]) for row in rows)


def reads_only_the_index(plan: str, index: str, dialect: str) -> bool:
    """Whether ``plan`` is an ordered scan of ``index`` alone: no table rows read (a covering
    or index-only scan), no sort step."""
    if dialect == "sqlite":
        return f"USING COVERING INDEX {index}" in plan and "TEMP B-TREE" not in plan
    return f"Index Only Scan Backward using {index}" in plan and "Sort" not in plan
