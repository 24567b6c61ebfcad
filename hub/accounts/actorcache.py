"""Bearer token → actor for a few seconds, per process (issue #14: authentication was a
database transaction of its own on every API request).

An entry lives at most ``HUB_AUTH_CACHE_SECONDS`` and never past its token's expiry (access
tokens are still verified, signature and expiry, on every request; only the database part is
cached). Whatever ends a credential already closes its sockets through
:class:`~hub.accounts.credentials.SocketCloser` (logout, a revoked token or sign-in, a password
or role change, a disabled user): the cache is one more closer, so the process that ended the
credential forgets it before answering, and it listens on the same process-wide connections
channel as the rooms' closer, so every other process forgets it when the close arrives. After a
bus outage (messages may have been missed) it forgets everything. Browser sessions are not
cached: their CSRF token and sliding expiry are read with the session row.
See docs/decisions/0028-actor-cache.md.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.accounts.actor import Actor
from hub.accounts.credentials import actor_keys
from hub.accounts.security import digest
from hub.db import utcnow
from rooms.bus import Bus, BusMessage, Subscription
from rooms.credentials import connections_channel, parse_close_matching

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Entry:
    actor: Actor
    deadline: float  # monotonic
    keys: frozenset[str]


class ActorCache:
    def __init__(
        self,
        seconds: float,
        max_entries: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._subscription: Subscription | None = None
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.seconds > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Actor | None:
        if not self.enabled:
            return None
        key = digest(token)
        entry = self._entries.get(key)
        if entry is None or entry.deadline <= self._clock():
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self.hits += 1
        return entry.actor

    def put(self, token: str, actor: Actor, *, expires_at: datetime | None = None) -> None:
        if not self.enabled:
            return
        now = self._clock()
        deadline = now + self.seconds
        if expires_at is not None:
            deadline = min(deadline, now + (expires_at - utcnow()).total_seconds())
        if deadline <= now:
            return
        self._entries[digest(token)] = _Entry(actor, deadline, actor_keys(actor))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)  # the oldest: insertion order

    def forget(self, keys: Iterable[str]) -> int:
        """Drop every entry admitted by one of ``keys`` (credential keys, see
        :func:`hub.accounts.credentials.actor_keys`); how many were dropped."""
        ended = frozenset(keys)
        stale = [key for key, entry in self._entries.items() if entry.keys & ended]
        for key in stale:
            del self._entries[key]
        return len(stale)

    def clear(self) -> None:
        self._entries.clear()

    # --- SocketCloser: this process ended a credential ---------------------------------------

    async def close_credentials(self, keys: Sequence[str], reason: str) -> None:
        self.forget(keys)

    # --- the other processes' closes ----------------------------------------------------------

    async def start(self, bus: Bus, channel_prefix: str) -> None:
        if not self.enabled:
            return
        channel = connections_channel(channel_prefix)
        self._subscription = await bus.subscribe(channel, self._on_control)
        bus.on_reconnect(self._on_reconnect)

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None
        self.clear()

    async def _on_control(self, message: BusMessage) -> None:
        try:
            keys, _code, _reason = parse_close_matching(message.payload)
        except ValueError:
            return  # the rooms' closer logs malformed messages on this channel
        self.forget(keys)

    async def _on_reconnect(self) -> None:
        # Closes published while this process was cut off are lost: trust nothing cached.
        self.clear()
