"""Batch API: your batches with their progress, one batch, cancel a whole batch. Batches are
made by ``POST /api/v1/jobs`` (``kind: batch``) and from the prompt library
(``POST /api/v1/prompts/batches``); their jobs are listed by ``GET /api/v1/jobs?batch_id=``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import require_actor
from hub.api import json_response, operation, parse_query
from hub.context import get_ctx
from hub.generation import batches
from hub.generation.component import job_wiring
from hub.generation.errors import BatchNotFound
from hub.generation.schemas import BatchListQuery, BatchOut, BatchPage

TAGS = ("jobs",)


def _batch_id(request: Request) -> str:
    return str(request.path_params["batch_id"])


@operation("Your batches", query=BatchListQuery, response=BatchPage, auth=True, tags=TAGS)
async def list_batches(request: Request) -> Response:
    """Newest first, each with its jobs counted by state and its overall progress."""
    actor = await require_actor(request)
    query = parse_query(request, BatchListQuery)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await batches.list_batches(session, actor, query=query)
    return json_response(page)


@operation(
    "A batch and its progress",
    response=BatchOut,
    auth=True,
    errors=(BatchNotFound,),
    tags=TAGS,
)
async def get_batch(request: Request) -> Response:
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        found = await batches.read_batch(session, actor, _batch_id(request))
    return json_response(found)


@operation(
    "Cancel a whole batch",
    response=BatchOut,
    auth=True,
    errors=(BatchNotFound,),
    tags=TAGS,
)
async def cancel_batch(request: Request) -> Response:
    """Every queued or running job of the batch is canceled and refunded; finished ones stay.
    Canceling again changes nothing."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    wiring = job_wiring(ctx)
    async with ctx.db.unit_of_work() as session:
        found = await batches.cancel_batch(
            session, actor, _batch_id(request), on_event=wiring.on_event, signals=wiring.signals
        )
    return json_response(found)


routes: list[BaseRoute] = [
    Route("/api/v1/batches", list_batches, methods=["GET"], name="batches_list"),
    Route("/api/v1/batches/{batch_id}", get_batch, methods=["GET"], name="batches_get"),
    Route(
        "/api/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"], name="batches_cancel"
    ),
]
