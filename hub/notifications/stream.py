"""The per-user live stream: its bus channel and the messages sent on it after a commit.

One channel per user (``{HUB_REDIS_KEY_PREFIX}notifications:user:{id}``) on the process's
:class:`~hub.broadcast.Broadcast`, so a notice made on any process (a web request, the separate
worker finishing a job) reaches the user's open pages on every process. Messages are the JSON
of :class:`~hub.notifications.schemas.LiveNotification` and ``LiveRead``; the socket endpoint
(``hub.notifications.component``) forwards them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import broadcast_of, settings_of
from hub.outbox import after_commit
from hub.settings import Settings


def user_channel(settings: Settings, user_id: int) -> str:
    return f"{settings.redis_key_prefix}notifications:user:{user_id}"


def send_after_commit(session: AsyncSession, messages: Sequence[tuple[int, BaseModel]]) -> None:
    """Send each ``(user_id, message)`` on the user's stream once this transaction commits
    (never on rollback). Without a broadcast (no bus in this process) nothing is sent: the rows
    are stored, and pages read them when they load."""
    broadcast = broadcast_of(session)
    if broadcast is None or not messages:
        return
    settings = settings_of(session)
    frames = [
        (user_channel(settings, user_id), message.model_dump_json().encode())
        for user_id, message in messages
    ]

    async def send() -> None:
        for channel, payload in frames:
            await broadcast.publish(channel, payload)

    after_commit(session, send)
