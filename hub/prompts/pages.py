"""Browser pages of the prompt library: ``/prompts`` (the library with its filters and a form for
a new template), ``/prompts/{id}`` (a template with its variables, versions, "use in a room" and
a version diff) and ``/prompts/{id}/diff``. Everything shown is autoescaped; the buttons and
forms post to the JSON API from static/js/prompts.js."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import csrf_token_for, current_actor
from hub.api import path_int, validate
from hub.context import get_ctx
from hub.pages import render
from hub.prompts import listing, service, versions
from hub.prompts.schemas import DiffQuery, PromptListQuery, VersionListQuery
from hub.prompts.service import INT32_MAX
from hub.prompts.variables import segments

VERSIONS_SHOWN = 50
FILTERS = ("scope", "tag", "category", "author", "official", "sort")


def _next_url(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = {k: v for k, v in request.query_params.items() if k in FILTERS and v}
    return "/prompts?" + urlencode({**params, "cursor": cursor})


async def library_page(request: Request) -> Response:
    actor = await current_actor(request)
    raw = {k: v for k, v in request.query_params.items() if v}
    query = validate(PromptListQuery, raw)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await listing.list_prompts(session, actor, query=query)
    context: dict[str, Any] = {
        "actor": actor,
        "csrf_token": csrf_token_for(request) or "",
        "page": page,
        "query": query,
        "next_url": _next_url(request, page.next_cursor),
        "canonical": f"{ctx.settings.public_url.rstrip('/')}/prompts",
    }
    return render(request, "prompts/library.html", context)


async def prompt_page(request: Request) -> Response:
    actor = await current_actor(request)
    prompt_id = path_int(request, "prompt_id", maximum=INT32_MAX)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        prompt = await service.read_prompt(session, actor, prompt_id)
        history = await versions.list_versions(
            session, actor, prompt_id, query=VersionListQuery(limit=VERSIONS_SHOWN)
        )
    context: dict[str, Any] = {
        "actor": actor,
        "csrf_token": csrf_token_for(request) or "",
        "prompt": prompt,
        "body_segments": segments(prompt.body),
        "versions": history.items,
        "more_versions": history.next_cursor is not None,
        "canonical": f"{ctx.settings.public_url.rstrip('/')}{prompt.url}",
    }
    return render(request, "prompts/prompt.html", context)


async def diff_page(request: Request) -> Response:
    actor = await current_actor(request)
    prompt_id = path_int(request, "prompt_id", maximum=INT32_MAX)
    query = validate(DiffQuery, dict(request.query_params))
    async with get_ctx(request).db.unit_of_work() as session:
        prompt = await service.read_prompt(session, actor, prompt_id)
        found = await versions.diff_versions(
            session, actor, prompt_id, old=query.from_version, new=query.to_version
        )
    context = {"actor": actor, "prompt": prompt, "diff": found}
    return render(request, "prompts/diff.html", context)


routes: list[BaseRoute] = [
    Route("/prompts", library_page, methods=["GET"], name="prompts_library_page"),
    Route("/prompts/{prompt_id}", prompt_page, methods=["GET"], name="prompts_page"),
    Route("/prompts/{prompt_id}/diff", diff_page, methods=["GET"], name="prompts_diff_page"),
]
