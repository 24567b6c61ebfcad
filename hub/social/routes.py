"""Social API: follow and unfollow people, and their followers and following lists.

Likes and favorites have no routes here: the domain that owns a target (works, forum) answers
``PUT/DELETE .../like``, because it checks the target and keeps its counter.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts.deps import require_actor
from hub.api import Refusal, json_response, operation, parse_query
from hub.context import get_ctx
from hub.errors import ErrorCode, RateLimited, ValidationFailed
from hub.pagination import PageParams
from hub.social import service
from hub.social.schemas import FollowOut, UserPage

API = "/api/v1"
TAGS = ("social",)
FOLLOW_SELF = Refusal(
    422, ErrorCode.validation_error, "You cannot follow yourself.", "username", "follow_self"
)


async def _set_follow(request: Request, on: bool) -> Response:
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        out = await service.set_follow(
            session, actor, request.path_params["username"], on, limiter=ctx.limiter
        )
    return json_response(out)


@operation(
    "Follow a user",
    response=FollowOut,
    auth=True,
    errors=(ValidationFailed, RateLimited),
    tags=TAGS,
    refuses=(FOLLOW_SELF,),
)
async def follow(request: Request) -> Response:
    """Idempotent: following someone you follow already changes nothing (`changed: false`).
    They are notified the first time you follow them. Rate-limited per user
    (`HUB_RATE_LIMIT_FOLLOW`, tighter for new accounts)."""
    return await _set_follow(request, True)


@operation(
    "Unfollow a user",
    response=FollowOut,
    auth=True,
    errors=(ValidationFailed, RateLimited),
    tags=TAGS,
    refuses=(FOLLOW_SELF,),
)
async def unfollow(request: Request) -> Response:
    """Idempotent, like following."""
    return await _set_follow(request, False)


async def _list(request: Request, *, followers: bool) -> Response:
    params = parse_query(request, PageParams)
    async with get_ctx(request).db.unit_of_work() as session:
        page = await service.list_follows(
            session,
            request.path_params["username"],
            followers=followers,
            cursor=params.cursor,
            limit=params.limit,
        )
    return json_response(page)


@operation("A user's followers, newest first", query=PageParams, response=UserPage, tags=TAGS)
async def followers(request: Request) -> Response:
    return await _list(request, followers=True)


@operation("The users a user follows, newest first", query=PageParams, response=UserPage, tags=TAGS)
async def following(request: Request) -> Response:
    return await _list(request, followers=False)


routes: list[BaseRoute] = [
    Route(f"{API}/users/{{username}}/follow", follow, methods=["PUT"], name="social_follow"),
    Route(f"{API}/users/{{username}}/follow", unfollow, methods=["DELETE"], name="social_unfollow"),
    Route(f"{API}/users/{{username}}/followers", followers, methods=["GET"], name="followers"),
    Route(f"{API}/users/{{username}}/following", following, methods=["GET"], name="following"),
]
