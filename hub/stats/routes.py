"""``GET /api/v1/admin/stats`` (admins only): the dashboard's numbers as JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import require_actor
from hub.api import json_response, operation, parse_query
from hub.context import HubContext, get_ctx
from hub.db import utcnow
from hub.errors import Forbidden
from hub.stats import service
from hub.stats.schemas import StatsOut, StatsQuery


def provider_of(ctx: HubContext) -> dict[str, str]:
    """Model id -> provider name, from the presets this process serves."""
    generation = ctx.generation
    presets = generation.presets if generation is not None else {}
    return {model: preset.provider for model, preset in presets.items()}


def live_rooms(ctx: HubContext) -> int:
    return len(ctx.rooms.server.loaded_rooms()) if ctx.rooms is not None else 0


@operation(
    "Site statistics per day (admin)",
    response=StatsOut,
    query=StatsQuery,
    auth=True,
    errors=(Forbidden,),
    tags=("admin", "stats"),
)
async def get_stats(request: Request) -> Response:
    ctx = get_ctx(request)
    actor = await require_actor(request)
    query = parse_query(request, StatsQuery)
    async with ctx.db.unit_of_work() as session:
        stats = await service.get_dashboard(
            session,
            actor,
            days=query.days,
            now=utcnow(),
            provider_of=provider_of(ctx),
            live_rooms=live_rooms(ctx),
        )
    return json_response(stats)


routes: list[BaseRoute] = [
    Route("/api/v1/admin/stats", get_stats, methods=["GET"], name="admin_stats"),
]
