"""``hub search reindex``: rebuilds users and images from their domains, removes what is gone,
skips domains not in the build, shows progress; on both databases."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, text

from hub import cli
from hub.search import reindex as reindex_module
from hub.search.models import SearchEntry
from hub.search.reindex import Outcome, TextProgress
from hub.search.service import DocKind, count_documents
from hub.settings import Settings
from tests.helpers import BOTH_DATABASES
from tests.hub.search.helpers import doc, found, index
from tests.hub.storage.helpers import new_user, save_image


async def _counts(ctx: Any) -> dict[str, int]:
    async with ctx.db.unit_of_work() as session:
        return {k.value: await count_documents(session, k) for k in DocKind}


@BOTH_DATABASES
async def test_reindex_rebuilds_and_prunes(
    client: httpx.AsyncClient,
    ctx: Any,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reindex_module, "BATCH", 2)  # several commits per provider
    alice = await new_user(client, "alice")
    await new_user(client, "bob")
    await new_user(client, "carol")
    for n in range(3):
        await save_image(ctx, alice, prompt=f"origami crane {n}")
    # The index lost everything, and holds a user and a thread nobody has any more.
    async with ctx.db.unit_of_work() as session:
        await session.execute(delete(SearchEntry))
    await index(ctx.db, doc("999", "ghost", kind=DocKind.user), doc("t1", "kept thread"))

    # The real command, which runs its own event loop: in a thread, as from a shell.
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    assert await asyncio.to_thread(cli.main, ["search", "reindex"]) == 0

    expected = {"thread": 0, "comment": 0, "work": 0, "user": 3, "image": 3, "prompt": 0}
    assert await _counts(ctx) == expected
    assert await found(ctx.db, alice.user_id, q="origami", type="image", limit=10) != []
    assert await found(ctx.db, q="ghost") == []
    assert await found(ctx.db, q="kept") == []  # the forum has no such thread: stale
    out, err = capsys.readouterr()
    assert "search index rebuilt: 6 documents" in out
    full = "#" * 30
    assert f"accounts   [{full}] 3/3: 3 indexed, 1 stale removed" in err.splitlines()
    assert f"storage    [{full}] 3/3: 3 indexed, 0 stale removed" in err.splitlines()


def test_listed_modules_missing_from_the_build_are_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sources = (
        cli.SearchSource("hub.accounts.indexing", ("user",)),
        cli.SearchSource("hub.accounts.no_such_indexing", ("thread",)),
    )
    providers = cli._search_providers(sources)
    assert [(p.name, p.kinds) for p in providers] == [("accounts", (DocKind.user,))]
    assert "hub.accounts.no_such_indexing: not in this build, skipped" in capsys.readouterr().err


def test_every_listed_kind_is_a_kind() -> None:
    for source in cli.SEARCH_PROVIDERS:
        assert all(kind in {k.value for k in DocKind} for kind in source.kinds)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar() -> None:
    stream = _Tty()
    bar = TextProgress(stream)
    bar.start("accounts", 4)
    bar.advance(2)
    bar.finish(Outcome("accounts", 4, 1))
    lines = stream.getvalue().split("\r")
    assert lines[1] == "accounts   [..............................] 0/4"
    assert lines[2] == "accounts   [###############...............] 2/4"
    assert lines[3] == f"accounts   [{'#' * 30}] 4/4: 4 indexed, 1 stale removed\n"
    piped = io.StringIO()
    quiet = TextProgress(piped)
    quiet.start("storage", None)
    quiet.advance(7)
    quiet.finish(Outcome("storage", 7, 0))
    assert piped.getvalue() == "storage    7 documents: 7 indexed, 0 stale removed\n"


async def test_a_provider_that_yields_another_kind_is_refused(ctx: Any) -> None:
    async def wrong(_session: Any) -> Any:
        yield doc("1", "x", kind=DocKind.work)

    provider = reindex_module.Provider("odd", (DocKind.user,), wrong)
    with pytest.raises(ValueError, match="yielded a work document"):
        await reindex_module.reindex(ctx.db, [provider], TextProgress(io.StringIO()))
    async with ctx.db.unit_of_work() as session:
        assert (await session.execute(text("SELECT count(*) FROM search_documents"))).scalar() == 0
