"""Browser pages of the generation domain: ``/jobs`` (my jobs: state, parameters, results and
"run again") and ``/batches`` (my batches with their progress)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import csrf_token_for, current_actor, require_actor
from hub.api import validate
from hub.context import get_ctx
from hub.generation import batches, service, submissions
from hub.generation.schemas import BatchListQuery, JobListQuery
from hub.pages import render, to_login

PAGE_SIZE = 20
JOB_STATES = ("queued", "running", "succeeded", "failed", "canceled")


def _query(request: Request, *keep: str) -> dict[str, str]:
    """The page's own query parameters (``keep``) that are set, for the next-page link."""
    return {k: v for k in keep if (v := request.query_params.get(k, ""))}


def _next_url(path: str, params: dict[str, str], cursor: str | None) -> str | None:
    return None if cursor is None else f"{path}?{urlencode({**params, 'cursor': cursor})}"


async def jobs_page(request: Request) -> Response:
    """``/jobs``: my jobs newest first; ``?state=`` and ``?batch_id=`` filter, like the API."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    params = _query(request, "state", "batch_id")
    query = validate(JobListQuery, {**params, **_query(request, "cursor"), "limit": PAGE_SIZE})
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_jobs(session, actor, query=query)
    context = {
        "actor": actor,
        "page": page,
        "state": query.state or "",
        "batch_id": query.batch_id or "",
        "states": JOB_STATES,
        "next_url": _next_url("/jobs", params, page.next_cursor),
        "is_first_page": query.cursor is None,
        "first_url": f"/jobs?{urlencode(params)}" if params else "/jobs",
        "csrf_token": csrf_token_for(request) or "",
        "rerun": request.query_params.get("rerun", ""),
    }
    return render(request, "generation/jobs.html", context)


async def rerun_form(request: Request) -> Response:
    """The "Run again" button of ``/jobs`` (a plain form, CSRF-checked by require_actor): the
    new job goes to the top of the list, which the redirect shows highlighted."""
    ctx = get_ctx(request)
    actor = await require_actor(request)
    await ctx.limiter.hit(ctx.settings.rate_limit_generate, "generate", str(actor.user_id))
    # As the API's handler does: this process's presets, event sink and worker nudge, if any.
    generation = ctx.generation
    worker = generation.worker if generation else None
    async with ctx.db.unit_of_work() as session:
        submission = await submissions.rerun_job(
            session,
            actor,
            str(request.path_params["job_id"]),
            presets=generation.presets if generation else None,
            on_event=generation.events if generation else None,
            signals=worker.signals if worker else None,
        )
    return RedirectResponse(f"/jobs?rerun={submission.jobs[0].job_id}", status_code=303)


async def batches_page(request: Request) -> Response:
    """``/batches``: my batches newest first with how far each has come."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    query = validate(BatchListQuery, {**_query(request, "cursor"), "limit": PAGE_SIZE})
    async with get_ctx(request).db.unit_of_work() as session:
        page = await batches.list_batches(session, actor, query=query)
    context = {
        "actor": actor,
        "page": page,
        "next_url": _next_url("/batches", {}, page.next_cursor),
        "is_first_page": query.cursor is None,
    }
    return render(request, "generation/batches.html", context)


routes: list[BaseRoute] = [
    Route("/jobs", jobs_page, methods=["GET"], name="jobs_page"),
    Route("/jobs/{job_id}/rerun", rerun_form, methods=["POST"], name="jobs_rerun_form"),
    Route("/batches", batches_page, methods=["GET"], name="batches_page"),
]
