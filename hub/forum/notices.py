"""What the forum tells people (through hub.notifications): replies to their threads and
comments, @mentions, and likes. Stored in the caller's transaction, delivered live after commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.actor import Actor
from hub.forum.markdown import plain_text
from hub.notifications.service import NotificationKind, notify, notify_mentions

# How much of a reply a notice quotes.
QUOTE_CHARS = 140


def _who(actor: Actor) -> str:
    return f"{actor.display_name} (@{actor.username})"


async def tell_mentions(
    session: AsyncSession,
    actor: Actor,
    *,
    body: str,
    url: str,
    subject_type: str,
    subject_id: int,
    exclude: set[int] | None = None,
) -> set[int]:
    """Notifies the users ``@mentioned`` in ``body`` (once each, never the actor)."""
    return await notify_mentions(
        session,
        body=body,
        actor_id=actor.user_id,
        url=url,
        subject_type=subject_type,
        subject_id=str(subject_id),
        exclude=exclude or set(),
    )


async def tell_reply(
    session: AsyncSession,
    actor: Actor,
    *,
    recipient_id: int,
    to_comment: bool,
    thread_title: str,
    body: str,
    url: str,
    comment_id: int,
) -> None:
    """Tells the author of the thread or comment answered (nothing when they answer themselves)."""
    what = "comment in" if to_comment else "thread"
    await notify(
        session,
        recipient_id=recipient_id,
        kind=NotificationKind.reply,
        actor_id=actor.user_id,
        text=f"{_who(actor)} replied to your {what} “{thread_title}”: "
        f"{plain_text(body, limit=QUOTE_CHARS)}",
        url=url,
        subject_type="comment",
        subject_id=str(comment_id),
    )


async def tell_like(
    session: AsyncSession,
    actor: Actor,
    *,
    recipient_id: int,
    subject_type: str,
    subject_id: int,
    thread_title: str,
    url: str,
) -> None:
    """Tells an author their thread or comment was liked (once per liker and subject)."""
    what = "thread" if subject_type == "thread" else "comment in"
    await notify(
        session,
        recipient_id=recipient_id,
        kind=NotificationKind.like,
        actor_id=actor.user_id,
        text=f"{_who(actor)} liked your {what} “{thread_title}”",
        url=url,
        subject_type=subject_type,
        subject_id=str(subject_id),
    )
