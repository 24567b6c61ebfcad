"""Fixtures: settings per database, a migrated database per test, the app with its lifespan, an
HTTP client (httpx ASGITransport) and a real uvicorn server for WebSocket tests.

SQLite: migrations run once per session into a template file; each test gets a copy.
Postgres: one database per test session (``hub_test_<random>``), migrated once, truncated after
each test, dropped at the end. Pick the database with
``@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)``
(``tests.helpers.BOTH_DATABASES``); the default is SQLite.

Each set-up is written once; look there before writing one: ``tests/helpers.py`` (waiting,
ports, loud skips), ``tests/live.py`` (the hub behind uvicorn in this process),
``tests/processes.py`` (``hub serve`` / ``hub worker`` as child processes),
``tests/databases.py`` (Postgres scratch databases and truncation), and per domain
``tests/<area>/conftest.py`` and ``helpers.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette

from hub.settings import Settings
from tests.databases import scratch_postgres, truncate_postgres, with_driver
from tests.live import LiveServer, serve_test_hub
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
    from hub.migrate import upgrade

    with scratch_postgres("hub_test") as plain_url:
        url = with_driver(plain_url, "asyncpg")
        upgrade(url)
        yield url


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


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    from hub.app import create_app

    application = create_app(settings)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await truncate_postgres(settings)


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


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The app served by a real uvicorn (websockets-sansio, no compression) on a free port."""
    async with serve_test_hub(settings) as server:
        yield server


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    """The settings ``live`` changes; a test module redefines this fixture to change them."""
    from tests.hub.credits.helpers import EMBEDDED_WORKER

    return EMBEDDED_WORKER


@pytest.fixture
async def live(settings: Settings, live_overrides: dict[str, Any]) -> AsyncIterator[LiveServer]:
    """The app behind a real uvicorn with its embedded worker on the offline engine, which takes
    a few ms per step (``live_overrides``)."""
    async with serve_test_hub(settings, **live_overrides) as server:
        yield server
