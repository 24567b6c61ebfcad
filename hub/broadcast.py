"""Messages to a channel's subscribers on every process, this one included.

The bus hands a message to every *other* process (it drops echoes, so rooms, which fan out
locally themselves, never see their own messages twice). A per-user stream has no such local
owner: a notice made by a request on this process must reach the user's pages here as well as
elsewhere. :class:`Broadcast` delivers to this process's subscribers first, then publishes on the
bus for the others, which deliver to theirs.

Services reach it through their session (:func:`hub.db.broadcast_of`): the composition root
sets ``Database.broadcast``, and a database without one (a script, a test) simply delivers
nothing live.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from rooms.bus import Bus, BusMessage, Handler, OnceSubscription, Subscription, check_channel

log = logging.getLogger(__name__)


class Broadcast:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._handlers: dict[str, list[Handler]] = {}
        self._subscriptions: dict[str, Subscription] = {}
        # Serializes (un)subscribing, so a channel has one bus subscription however many local
        # subscribers come and go at once.
        self._lock = asyncio.Lock()

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        """``handler`` gets every message published on ``channel`` by any process, this one
        included. Returns once the bus subscription is live."""
        check_channel(channel)
        async with self._lock:
            if channel not in self._subscriptions:
                self._subscriptions[channel] = await self.bus.subscribe(channel, self._deliver)
            self._handlers.setdefault(channel, []).append(handler)
        return OnceSubscription(functools.partial(self._unsubscribe, channel, handler))

    async def _unsubscribe(self, channel: str, handler: Handler) -> None:
        async with self._lock:
            handlers = self._handlers.get(channel, [])
            if handler in handlers:
                handlers.remove(handler)
            if handlers:
                return
            self._handlers.pop(channel, None)
            subscription = self._subscriptions.pop(channel, None)
        if subscription is not None:
            try:
                await subscription.unsubscribe()
            except Exception:
                log.warning("bus unsubscribe failed", extra={"channel": channel}, exc_info=True)

    def subscribed(self, channel: str) -> bool:
        return bool(self._handlers.get(channel))

    async def publish(self, channel: str, payload: bytes) -> bool:
        """Deliver here, then send to the other processes. False when the bus refused it (the
        local subscribers got it all the same); never raises for a bus that is down."""
        await self._deliver(BusMessage(check_channel(channel), self.bus.instance_id, payload))
        try:
            await self.bus.publish(channel, payload)
        except Exception:
            log.warning("broadcast to other processes failed", extra={"channel": channel})
            return False
        return True

    async def _deliver(self, message: BusMessage) -> None:
        for handler in list(self._handlers.get(message.channel, ())):
            try:
                await handler(message)
            except Exception:  # one bad subscriber must not keep the message from the others
                log.exception("broadcast handler failed", extra={"channel": message.channel})
