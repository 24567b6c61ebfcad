"""Credits API: balance, ledger and the admin adjustment."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import require_actor
from hub.api import json_response, operation, parse_body, parse_query
from hub.context import get_ctx
from hub.credits import service
from hub.credits.schemas import AdjustIn, AdjustOut, BalanceOut, LedgerEntryOut, LedgerPage
from hub.errors import BadRequest, Conflict, Forbidden, InsufficientCredits, NotFound
from hub.pagination import PageParams


@operation("Your credit balance", response=BalanceOut, auth=True, tags=("credits",))
async def get_credits(request: Request) -> Response:
    """``balance`` is spendable; ``reserved`` is held for your queued and running jobs."""
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        balance = await service.get_balance(session, actor.user_id)
    return json_response(balance)


@operation(
    "Your credit ledger, newest first",
    query=PageParams,
    response=LedgerPage,
    auth=True,
    errors=(BadRequest,),
    tags=("credits",),
)
async def get_ledger(request: Request) -> Response:
    actor = await require_actor(request)
    params = parse_query(request, PageParams)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_ledger(session, actor, params=params)
    return json_response(page)


@operation(
    "Add or remove a user's credits (admin)",
    request=AdjustIn,
    response=AdjustOut,
    auth=True,
    errors=(Forbidden, NotFound, InsufficientCredits, Conflict),
    tags=("credits", "admin"),
)
async def adjust(request: Request) -> Response:
    """A negative amount never overdraws the wallet: 402 with the balance, unless ``force``,
    which takes what is there (down to zero; 409 when nothing is). Send an ``idempotency_key`` to
    make retries safe."""
    actor = await require_actor(request)
    body = await parse_body(request, AdjustIn)
    async with get_ctx(request).db.unit_of_work() as session:
        entry, balance = await service.adjust_credits(
            session,
            actor,
            user_id=body.user_id,
            amount=body.amount,
            memo=body.memo,
            idempotency_key=body.idempotency_key,
            force=body.force,
        )
    return json_response(AdjustOut(entry=LedgerEntryOut.model_validate(entry), balance=balance))


routes: list[BaseRoute] = [
    Route("/api/v1/credits", get_credits, methods=["GET"], name="credits_balance"),
    Route("/api/v1/credits/ledger", get_ledger, methods=["GET"], name="credits_ledger"),
    Route("/api/v1/admin/credits/adjust", adjust, methods=["POST"], name="credits_adjust"),
]
