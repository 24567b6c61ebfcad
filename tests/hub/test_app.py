"""The app factory, health/readiness, request ids, body limits and the error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import BOTH_DATABASES


@BOTH_DATABASES
async def test_readyz_reports_db_and_bus(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"db": True, "bus": True}}


async def test_healthz_is_alive(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_fails_when_database_is_gone(client: httpx.AsyncClient, ctx: Any) -> None:
    from hub.db import Database

    # Nothing listens on port 1: the database is unreachable.
    broken = Database(ctx.settings, url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    original, ctx.db = ctx.db, broken
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["db"] is False
    await broken.dispose()
    ctx.db = original


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz", headers={"x-request-id": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


async def test_unknown_api_route_uses_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_unknown_page_renders_html_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Back to the start page" in response.text


async def test_oversize_body_is_413_with_error_shape(client: httpx.AsyncClient, ctx: Any) -> None:
    limit = ctx.settings.max_body_bytes
    response = await client.post(
        "/api/v1/auth/register",
        content=b"{" + b" " * (limit + 10) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "text/plain" in response.headers["content-type"]


async def test_openapi_document_is_valid_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert "ErrorEnvelope" in doc["components"]["schemas"]


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    from hub.app import create_app
    from hub.settings import Settings

    with pytest.raises(RuntimeError, match="HUB_SECRET_KEY"):
        create_app(Settings(environment="production", data_dir=tmp_path))


async def test_every_api_route_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    from hub.api import _walk

    doc = (await client.get("/api/v1/openapi.json")).json()
    routes = [p for p, _ in _walk(client._transport.app.routes)]  # type: ignore[attr-defined]
    # /api/docs is the HTML page that shows the document, not an operation of it.
    api_paths = {
        p
        for p in routes
        if p.startswith("/api/") and p not in {"/api/v1/openapi.json", "/api/docs"}
    }
    assert api_paths, "no API routes found"
    assert api_paths <= set(doc["paths"]), api_paths - set(doc["paths"])
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], f"{method} {path} documents no response"
