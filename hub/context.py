"""The process-wide services the lifespan opens.

Reachable from requests as ``request.app.state.ctx`` (see :func:`get_ctx`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from hub.db import Database
    from hub.ratelimit import RateLimiter
    from hub.settings import Settings
    from rooms.bus import Bus


@dataclass
class HubContext:
    settings: Settings
    db: Database
    bus: Bus
    limiter: RateLimiter
    # Filled by the domains that need process-wide objects (rooms server, storage, worker, ...).
    extras: dict[str, Any] = field(default_factory=dict)


def get_ctx(conn: HTTPConnection) -> HubContext:
    ctx: HubContext = conn.app.state.ctx
    return ctx
