"""Starlette WebSocket endpoints for a :class:`RoomServer`.

* ``/yjs/{slug}``: y-websocket (binary frames only), what stock ``WebsocketProvider`` speaks.
* ``/rooms/{slug}/events``: the room's JSON event stream (docs/protocol.md).

The hub mounts ``RoomEndpoints(server).routes()`` (or calls ``yjs``/``events`` from its own
routes); this package's tests serve :func:`create_app` with uvicorn. The ``Origin`` header is
checked against ``RoomConfig.allowed_origins`` *before* the handshake is accepted: CORS does not
cover WebSockets, and closing before accept makes the server answer HTTP 403.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from rooms import close_codes
from rooms.config import RoomConfig
from rooms.connection import Frame
from rooms.server import RoomServer
from rooms.types import RequestInfo


class StarletteTransport:
    """Adapts a Starlette ``WebSocket`` to :class:`rooms.connection.Transport`."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.disconnect_code: int | None = None

    async def receive(self) -> Frame | None:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            self.disconnect_code = int(message.get("code") or close_codes.NORMAL)
            return None
        data: bytes | None = message.get("bytes")
        if data is not None:
            return data
        text: str | None = message.get("text")
        return text if text is not None else b""

    async def send_bytes(self, data: bytes) -> None:
        await self.websocket.send({"type": "websocket.send", "bytes": data})

    async def send_text(self, data: str) -> None:
        await self.websocket.send({"type": "websocket.send", "text": data})

    async def close(self, code: int, reason: str) -> None:
        await self.websocket.close(code, reason)


def request_info(websocket: WebSocket) -> RequestInfo:
    client = websocket.client
    return RequestInfo(
        path=websocket.url.path,
        headers={key.lower(): value for key, value in websocket.headers.items()},
        query=dict(websocket.query_params),
        cookies=dict(websocket.cookies),
        client=(client.host, client.port) if client else None,
    )


def origin_allowed(config: RoomConfig, origin: str | None) -> bool:
    """Browsers always send ``Origin`` on WebSocket handshakes; other clients may not, and they
    cannot be used for cross-site hijacking, so a missing header passes (auth still applies)."""
    if config.allowed_origins is None or origin is None:
        return True
    return origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in config.allowed_origins}


class RoomEndpoints:
    def __init__(self, server: RoomServer) -> None:
        self.server = server

    async def _accept(self, websocket: WebSocket) -> bool:
        if not origin_allowed(self.server.config, websocket.headers.get("origin")):
            await websocket.close(close_codes.POLICY_VIOLATION)  # before accept: HTTP 403
            return False
        await websocket.accept()
        return True

    async def yjs(self, websocket: WebSocket) -> None:
        if await self._accept(websocket):
            await self.server.serve_yjs(
                StarletteTransport(websocket),
                str(websocket.path_params.get("slug", "")),
                request_info(websocket),
            )

    async def events(self, websocket: WebSocket) -> None:
        if await self._accept(websocket):
            await self.server.serve_events(
                StarletteTransport(websocket),
                str(websocket.path_params.get("slug", "")),
                request_info(websocket),
                since=websocket.query_params.get("since"),
            )

    def routes(
        self, *, yjs_path: str = "/yjs/{slug}", events_path: str = "/rooms/{slug}/events"
    ) -> list[BaseRoute]:
        return [
            WebSocketRoute(yjs_path, self.yjs, name="rooms-yjs"),
            WebSocketRoute(events_path, self.events, name="rooms-events"),
        ]


def create_app(server: RoomServer, *, manage_server: bool = True) -> Starlette:
    """A minimal ASGI app serving both room endpoints. With ``manage_server`` its lifespan
    starts and stops ``server`` (the bus is the caller's to start and stop)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_server:
            await server.start()
        try:
            yield
        finally:
            if manage_server:
                await server.stop()

    return Starlette(routes=RoomEndpoints(server).routes(), lifespan=lifespan)
