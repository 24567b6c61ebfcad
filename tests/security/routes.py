"""The app's surface, read from the app itself: its pages, form posts and sockets (the routing
table) and its JSON operations (the OpenAPI document). The security tests walk these lists, so a
page, form, socket or endpoint added later (forum, works, ...) is covered without editing them;
a path parameter they cannot fill fails loudly, naming the route (see :func:`fill`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

# Machine endpoints and static files: no user content, no session.
NOT_PAGES = ("/healthz", "/readyz", "/metrics", "/api/", "/static", "/media/")
_PARAM = re.compile(r"{([a-zA-Z_]+)(?::[a-z]+)?}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    body: dict[str, Any] | None  # the JSON request body's schema, $refs resolved at the top
    content_types: tuple[str, ...]  # of the request body
    authenticated: bool  # the document asks for a bearer token or the session cookie


def _routes(app: Starlette) -> list[BaseRoute]:
    return [route for route in app.routes if not isinstance(route, Mount)]


def pages(app: Starlette) -> list[str]:
    """Paths of the HTML pages: GET routes outside the API and the machine endpoints."""
    return sorted(
        route.path
        for route in _routes(app)
        if isinstance(route, Route)
        and "GET" in (route.methods or set())
        and not route.path.startswith(NOT_PAGES)
    )


def form_posts(app: Starlette) -> list[str]:
    """Paths that take a browser form: POST routes outside the API."""
    return sorted(
        route.path
        for route in _routes(app)
        if isinstance(route, Route)
        and "POST" in (route.methods or set())
        and not route.path.startswith("/api/")
    )


def sockets(app: Starlette) -> list[str]:
    return sorted(route.path for route in _routes(app) if isinstance(route, WebSocketRoute))


def operations(document: Mapping[str, Any]) -> list[Operation]:
    """Every operation of the OpenAPI document, in document order."""
    schemas = document.get("components", {}).get("schemas", {})
    found = []
    for path, methods in document["paths"].items():
        for method, entry in methods.items():
            content = (entry.get("requestBody") or {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            found.append(
                Operation(
                    method.upper(),
                    path,
                    entry["operationId"],
                    resolve(body, schemas) if body else None,
                    tuple(content),
                    bool(entry.get("security")),
                )
            )
    return found


def resolve(schema: Any, schemas: Mapping[str, Any]) -> Any:
    """``schema`` with every ``$ref`` replaced by its component, at any depth."""
    if isinstance(schema, list):
        return [resolve(item, schemas) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    while "$ref" in schema:
        schema = {
            **schemas[schema["$ref"].rsplit("/", 1)[1]],
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    return {key: resolve(value, schemas) for key, value in schema.items()}


def params(path: str) -> list[str]:
    return _PARAM.findall(path)


def fill(path: str, values: Mapping[str, object]) -> str:
    """``path`` with its parameters replaced from ``values``; a parameter it has no value for
    fails the test with what to add (tests/security/conftest.py, ``Site.params``)."""
    missing = [name for name in params(path) if name not in values]
    assert not missing, (
        f"{path}: no value for {missing}; add one to Site.params in tests/security/conftest.py "
        "so the security tests reach this route"
    )
    return _PARAM.sub(lambda m: str(values[m.group(1)]), path)
