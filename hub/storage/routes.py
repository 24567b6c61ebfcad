"""``/media/{key}``: serves stored objects when the backend has no public URL of its own (local
files, or a private bucket: then a short-lived presigned redirect)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from hub.context import get_ctx
from hub.storage.backends import LocalStorage, Storage
from hub.storage.errors import InvalidStorageKey, ObjectNotFound


async def media(request: Request) -> Response:
    storage: Storage = get_ctx(request).extras["storage"]
    key = request.path_params["key"]
    if not isinstance(storage, LocalStorage):
        url = storage.url_for(key)
        if url:
            return RedirectResponse(url, status_code=307)
    try:
        stream = await storage.open_stream(key)
    except InvalidStorageKey:
        raise ObjectNotFound(key) from None
    headers = {"cache-control": "public, max-age=31536000, immutable"}
    if stream.size is not None:
        headers["content-length"] = str(stream.size)
    return StreamingResponse(stream, media_type=stream.content_type, headers=headers)


routes: list[BaseRoute] = [Route("/media/{key:path}", media, methods=["GET"], name="media")]
