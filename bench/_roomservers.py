"""The servers the room benchmarks measure the hub against, each run as its own process:

    python -m bench._roomservers relay --port N   # plain ``websockets`` relay (the baseline)
    python -m bench._roomservers core --port N    # the rooms core alone: uvicorn + RoomServer

``relay`` is the cheapest correct room a Python process can be (docs/performance.md): every
binary message a client sends is written to every other client with ``websockets.broadcast``,
compression off. It keeps no document, so it is a floor, not a rival. ``core`` runs ``rooms``
with its in-memory bus and store and no hub extension, served exactly like ``hub serve`` serves
rooms (sansio, no compression); it tells how much of the hub's cost is the core and how much its
extensions. Both answer ``GET /readyz`` with 200 once they listen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from http import HTTPStatus

from bench._roomload import raise_nofile_limit


async def _relay(port: int, max_size: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.http11 import Request, Response

    peers: set[ServerConnection] = set()

    def ready(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/readyz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        return None

    async def handler(websocket: ServerConnection) -> None:
        peers.add(websocket)
        try:
            async for message in websocket:
                if isinstance(message, bytes):
                    broadcast([peer for peer in peers if peer is not websocket], message)
        finally:
            peers.discard(websocket)

    async with serve(
        handler,
        "127.0.0.1",
        port,
        compression=None,
        max_size=max_size,
        process_request=ready,
        backlog=4096,
    ) as server:
        await server.serve_forever()


def _core(port: int, max_members: int, rate: float) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from rooms import MemoryStore, RoomConfig, RoomServer
    from rooms.asgi import create_app
    from rooms.bus import MemoryBus

    bus = MemoryBus()
    config = RoomConfig(max_members=max_members, messages_per_second=rate)
    server = RoomServer(bus, MemoryStore(), config=config)
    app = create_app(server)
    inner_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: object) -> AsyncIterator[None]:
        await bus.start()
        try:
            async with inner_lifespan(app):
                yield
        finally:
            await bus.stop()

    async def readyz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    app.router.lifespan_context = lifespan
    app.router.routes.append(Route("/readyz", readyz))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=1_048_576,
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["relay", "core"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-members", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1e6, help="messages/s per socket (core)")
    args = parser.parse_args(argv)
    raise_nofile_limit()
    if args.kind == "relay":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_relay(args.port, 1_048_576))
    else:
        _core(args.port, args.max_members, args.rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
