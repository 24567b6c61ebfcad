"""``/api/docs``: the API reference, rendered in the browser from the OpenAPI document
(``/api/v1/openapi.json``) by Swagger UI, vendored under static/vendor/swagger-ui with its license
(no CDN; docs/web.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.pages import render


async def api_docs(request: Request) -> Response:
    return render(request, "web/api_docs.html", {"spec_url": "/api/v1/openapi.json"})


routes: list[BaseRoute] = [
    Route("/api/docs", api_docs, methods=["GET"], name="api_docs", include_in_schema=False),
]
