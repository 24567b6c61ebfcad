"""After-commit effects.

Bus publishes, job wake-ups and notifications must not escape a transaction that rolls back
(Polar's JobQueueManager, Zulip's send_event_on_commit). Services call :func:`after_commit` with
the session; :meth:`hub.db.Database.unit_of_work` runs the queued callbacks once the commit
succeeded and drops them on rollback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

Effect = Callable[[], Awaitable[object]]


class Outbox:
    def __init__(self) -> None:
        self._effects: list[Effect] = []

    def add(self, effect: Effect) -> None:
        self._effects.append(effect)

    def discard(self) -> None:
        self._effects.clear()

    async def run(self) -> None:
        effects, self._effects = self._effects, []
        for effect in effects:
            try:
                await effect()
            except Exception:
                # The transaction is committed; an effect failing (bus down) must not turn a
                # successful request into an error. Rooms resync from the store later.
                log.exception("after-commit effect failed")


def after_commit(session: AsyncSession, effect: Effect) -> None:
    outbox = session.info.get("outbox")
    if outbox is None:
        raise RuntimeError("after_commit() needs a session from Database.unit_of_work()")
    outbox.add(effect)
