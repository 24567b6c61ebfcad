"""Server-rendered pages. The polished UI comes later; these pages prove the paths end to end."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates


async def home(request: Request) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, "home.html", {})


routes: list[BaseRoute] = [Route("/", home, name="home")]
