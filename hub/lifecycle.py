"""Start and stop the process-wide components of each domain (rooms server, storage, worker).

Kept apart from app.py so the order is visible in one place: components start after the
database and bus and stop before them, in reverse order.
"""

from __future__ import annotations

from hub.context import HubContext


async def start_components(ctx: HubContext) -> None:
    return None


async def stop_components(ctx: HubContext) -> None:
    return None
