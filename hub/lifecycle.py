"""Start and stop the process-wide components of each domain (rooms server, storage, worker).

Kept apart from app.py so the order is visible in one place: components start after the
database and bus and stop before them, in reverse order.
"""

from __future__ import annotations

from hub.context import HubContext


async def start_components(ctx: HubContext) -> None:
    from hub.storage.component import open_storage

    ctx.extras["storage"] = await open_storage(ctx.settings)
    from hub.collab.component import start_rooms

    await start_rooms(ctx)
    from hub.generation.component import start_generation

    # After rooms: job events go to room streams; the embedded worker needs storage.
    await start_generation(ctx)


async def stop_components(ctx: HubContext) -> None:
    from hub.collab.component import stop_rooms
    from hub.generation.component import stop_generation

    # Generation first: the worker's last events (jobs handed back) still reach open rooms.
    await stop_generation(ctx)
    # Rooms next: closing their sockets flushes documents into the database.
    await stop_rooms(ctx)
    storage = ctx.extras.pop("storage", None)
    if storage is not None:
        await storage.aclose()
