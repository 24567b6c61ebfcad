"""The process-wide services of the web process, one typed field each.

Built by the composition root (:mod:`hub.compose`) and reachable from requests as
``request.app.state.ctx`` (see :func:`get_ctx`). The domain types are imported for annotations
only: this module sits below every domain (the layers contract in pyproject.toml ignores exactly
these imports), and each domain reads the fields it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from hub.accounts.actorcache import ActorCache
    from hub.accounts.credentials import SocketCloser
    from hub.accounts.oidc import OIDCClient
    from hub.collab.component import RoomsComponent
    from hub.db import Database
    from hub.generation.component import GenerationComponent
    from hub.notifications.component import NotificationsComponent
    from hub.prompts.index import PromptIndex
    from hub.ratelimit import RateLimiter
    from hub.settings import Settings
    from hub.storage.backends import Storage
    from hub.works.component import FeedsComponent
    from rooms.bus import Bus


@dataclass
class HubContext:
    settings: Settings
    db: Database
    bus: Bus
    limiter: RateLimiter
    storage: Storage
    # Discovery and key caches for sign-in with OIDC; tests swap in a client with a fake transport.
    oidc: OIDCClient
    # Set while they run (the composition root starts them after the fields above, and stops
    # them first): None before start-up, after shutdown, or in a test that took them away.
    rooms: RoomsComponent | None = None
    generation: GenerationComponent | None = None
    # The live notification sockets of this process (per-user streams).
    notifications: NotificationsComponent | None = None
    # The prompt library's suggestion index (hub/prompts/index.py).
    prompts: PromptIndex | None = None
    # Closes the sockets of ended credentials (the rooms component); None: no sockets here.
    sockets: SocketCloser | None = None
    # The feed page cache and the hot-score repair task; None outside a running web process.
    feeds: FeedsComponent | None = None
    # Bearer token -> actor for a few seconds (hub/accounts/actorcache.py); None: no cache.
    actors: ActorCache | None = None


def get_ctx(conn: HTTPConnection) -> HubContext:
    ctx: HubContext = conn.app.state.ctx
    return ctx
