"""What every domain's ``pages.py`` shares: rendering a template and sending a signed-out
visitor to sign in. The HTML counterpart of :mod:`hub.api` (see docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``templates/<domain>/<page>.html`` with ``context`` (autoescaped, see hub.app)."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=headers
    )


def to_login(request: Request) -> Response:
    """303 to the sign-in page, which comes back to this page afterwards."""
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
