"""Every HubError subclass renders the one documented shape with a documented code."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import httpx
import pytest

import hub
from hub.errors import ErrorCode, HubError, all_error_classes

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _import_all_error_modules() -> None:
    for module in pkgutil.walk_packages(hub.__path__, "hub."):
        if module.name.endswith(".errors"):
            importlib.import_module(module.name)


def test_every_error_class_renders_the_shape() -> None:
    _import_all_error_modules()
    page = DOCS.read_text(encoding="utf-8")
    classes = all_error_classes()
    assert len(classes) >= 15
    for cls in classes:
        error = cls()
        body = error.to_dict()
        assert set(body) == {"error"}
        assert set(body["error"]) <= {"code", "message", "details"}
        assert body["error"]["code"] in {c.value for c in ErrorCode}, cls
        assert f"`{body['error']['code']}`" in page, f"{cls.__name__} code undocumented"
        assert body["error"]["message"], cls
        assert 400 <= error.status < 600, cls


def test_details_are_included_only_when_given() -> None:
    assert "details" not in HubError("x").to_dict()["error"]
    assert HubError("x", limit=3).to_dict()["error"]["details"] == {"limit": 3}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/does-not-exist"), ("DELETE", "/healthz")],
)
async def test_router_errors_use_the_shape(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code in (404, 405)
    assert set(response.json()["error"]) >= {"code", "message"}
