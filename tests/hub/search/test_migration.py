"""Migration 0008 indexes the users and library images that exist when it runs, so "My images"
search keeps working right after an upgrade, on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text

from hub import migrate
from hub.db import Database
from hub.search import service
from hub.search.schemas import SearchQuery
from tests.conftest import _base_settings
from tests.databases import scratch_postgres, with_driver

NOW = datetime(2026, 12, 1, tzinfo=UTC)
USERS = """INSERT INTO users (user_id, email, email_key, username, username_key, display_name,
    bio, role, is_active, email_verified, created_at, updated_at)
    VALUES (:id, :email, :email, :name, :name, :display, :bio, 'user', :active, false, :t, :t)"""
IMAGES = """INSERT INTO images (image_id, owner_id, job_id, "index", key, thumb_key, square_key,
    mime, width, height, bytes, seed, model, prompt, negative_prompt, params, created_at,
    deleted_at) VALUES (:id, 1, 'job1', :n, :key, :thumb, :square, 'image/png', 8, 8, 10, '1',
    'sdxl', :prompt, '', '{}', :t, :deleted)"""


def _seed(sync_url: str) -> None:
    engine = create_sync_engine(sync_url)
    try:
        with engine.begin() as conn:
            for uid, name, bio, active in [(1, "ada", "draws 灯塔", True), (2, "gone", "", False)]:
                conn.execute(
                    text(USERS),
                    {"id": uid, "email": f"{name}@example.com", "name": name,
                     "display": name.title(), "bio": bio, "active": active, "t": NOW},
                )  # fmt: skip
            for n, (prompt, deleted) in enumerate([("paper lantern", None), ("old lantern", NOW)]):
                key = f"images/job1/{n}/0000000{n}-0000-7000-8000-000000000000"
                conn.execute(
                    text(IMAGES),
                    {"id": key.rsplit("/", 1)[1], "n": n, "key": key + ".png",
                     "thumb": key + "-thumb.webp", "square": key + "-square.webp",
                     "prompt": prompt, "t": NOW, "deleted": deleted},
                )  # fmt: skip
    finally:
        engine.dispose()


def _search(async_url: str, tmp_path: Path, viewer: int | None, **params: str) -> list[str]:
    async def run() -> list[str]:
        db = Database(_base_settings(tmp_path, database_url=async_url))
        try:
            async with db.unit_of_work() as session:
                query = SearchQuery.model_validate(params)
                page = await service.search(session, viewer, query)
                return [f"{item.kind.value}:{item.ref_id}:{item.url}" for item in page.items]
        finally:
            await db.dispose()

    return asyncio.run(run())


def _check(async_url: str, sync_url: str, tmp_path: Path) -> None:
    migrate.upgrade(async_url, "0007")
    _seed(sync_url)
    migrate.upgrade(async_url, "head")
    assert _search(async_url, tmp_path, None, q="ada") == ["user:1:/u/ada"]
    assert _search(async_url, tmp_path, None, q="灯塔") == ["user:1:/u/ada"]
    assert _search(async_url, tmp_path, None, q="gone") == []  # deactivated: private
    image = "image:00000000-0000-7000-8000-000000000000:/media/images/job1/0/"
    [hit] = _search(async_url, tmp_path, 1, q="lantern")  # the deleted one is not indexed
    assert hit.startswith(image)
    assert _search(async_url, tmp_path, None, q="lantern") == []
    assert _search(async_url, tmp_path, 2, q="lantern") == []


def test_upgrade_indexes_existing_rows_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    _check(f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}", tmp_path)


@pytest.mark.postgres
def test_upgrade_indexes_existing_rows_on_postgres(tmp_path: Path) -> None:
    with scratch_postgres("hub_search_mig") as url:
        _check(with_driver(url, "asyncpg"), with_driver(url, "psycopg"), tmp_path)
