"""Fixtures: settings per database, a migrated database per test, the app with its lifespan, an
HTTP client (httpx ASGITransport) and a real uvicorn server for WebSocket tests.

SQLite: migrations run once per session into a template file; each test gets a copy.
Postgres: one database per test session (``hub_test_<random>``), migrated once, truncated after
each test, dropped at the end. Pick the database with
``@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)``
(``tests.helpers.BOTH_DATABASES``); the default is SQLite.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette

from hub.settings import Settings
from tests.helpers import PG_ADMIN_URL, free_port, port_open, service_missing
from tests.pool_guard import nested_checkout_guard

TEST_ORIGIN = "http://testserver"

# Production argon2 parameters cost ~170 ms per hash; the suite creates hundreds of users.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def no_nested_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test in which a task took a pooled connection while holding one (see
    ``tests/pool_guard.py``); ``@pytest.mark.nested_connections`` exempts a test that holds a
    connection itself on purpose."""
    if request.node.get_closest_marker("nested_connections") is not None:
        yield
        return
    with nested_checkout_guard() as guard:
        yield
    if guard.violations:
        pytest.fail(
            f"{len(guard.violations)} nested connection checkout(s); the first:\n"
            + guard.violations[0],
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def fast_password_hasher() -> Iterator[PasswordHasher]:
    from hub.accounts import security

    previous = security.set_password_hasher(FAST_HASHER)
    yield FAST_HASHER
    security.set_password_hasher(previous)


def _base_settings(tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": tmp,
        "media_dir": tmp / "media",
        "public_url": TEST_ORIGIN,
        "auto_migrate": False,
        "log_json": False,
        "log_level": "WARNING",
        "offline_step_delay": 0.0,
        "embedded_worker": False,
        "redis_url": "",
        "database_url": "",
        "secret_key": "test-secret-key-for-the-suite",
        "room_store_flush_ms": 50,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hub.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    if not port_open("127.0.0.1", 5432):
        service_missing("PostgreSQL at 127.0.0.1:5432", "connection refused")
    import asyncpg

    name = f"hub_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        service_missing("PostgreSQL", f"cannot create a test database: {exc}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    from hub.migrate import upgrade

    upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    backend = getattr(request, "param", "sqlite")
    if backend == "postgres":
        url = request.getfixturevalue("pg_database_url")
        return _base_settings(tmp_path, database_url=url)
    template: Path = request.getfixturevalue("sqlite_template")
    db_file = tmp_path / "hub.sqlite3"
    shutil.copyfile(template, db_file)
    return _base_settings(tmp_path, database_url=f"sqlite+aiosqlite:///{db_file}")


async def _truncate_postgres(settings: Settings) -> None:
    from sqlalchemy import text

    from hub.db import Database
    from hub.models import metadata

    db = Database(settings)
    try:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        if names:
            async with db.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    from hub.app import create_app

    application = create_app(settings)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        if not settings.is_sqlite:
            await _truncate_postgres(settings)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=TEST_ORIGIN, headers={"origin": TEST_ORIGIN}
    ) as http:
        yield http


@pytest.fixture
def ctx(app: Starlette) -> Any:
    return app.state.ctx


class LiveServer:
    def __init__(self, app: Starlette, port: int) -> None:
        self.app = app
        self.port = port
        self.http_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The app served by a real uvicorn (websockets-sansio, no compression) on a free port."""
    import uvicorn

    from hub.app import create_app

    port = free_port()
    settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    application = create_app(settings)
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_size,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    try:
        yield LiveServer(application, port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        if not settings.is_sqlite:
            await _truncate_postgres(settings)
