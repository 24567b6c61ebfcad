"""Every feed read is an ordered scan of its partial index alone, on both databases.

The test database holds a few rows, where a planner may rightly prefer reading the table; the
test asks whether the index *can* answer the read alone (on Postgres with sequential and bitmap
scans off for the transaction), which is what an index that does not match the query's
predicate or order would fail. ``bench/feed.py`` prints the plans chosen at 100k works."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from hub.context import HubContext
from hub.works.plans import explain, feed_reads, reads_only_the_index
from tests.helpers import BOTH_DATABASES


@pytest.mark.parametrize("with_cursor", [False, True], ids=["first page", "after a cursor"])
@BOTH_DATABASES
async def test_feed_reads_scan_their_index_only(ctx: HubContext, with_cursor: bool) -> None:
    async with ctx.db.unit_of_work() as session:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            await session.execute(text("SET LOCAL enable_bitmapscan = off"))
        for name, (stmt, index) in feed_reads(with_cursor=with_cursor).items():
            plan = await explain(session, stmt)
            assert reads_only_the_index(plan, index, dialect), f"{name}:\n{plan}"
