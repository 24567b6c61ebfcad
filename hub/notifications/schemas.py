"""Bodies of the notifications API and of the live stream's messages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from hub.pagination import CURSOR_SCHEMA, MAX_LIMIT


class NotificationActor(BaseModel):
    user_id: int
    username: str
    display_name: str
    avatar_url: str


class NotificationOut(BaseModel):
    notification_id: int
    kind: str = Field(
        description="reply, mention, like, follow, new_work, job_finished or remix.",
    )
    text: str = Field(description="Plain text for people (render it escaped).")
    url: str = Field(description="A path on this hub the notice links to.")
    subject_type: str = Field(description="What it is about: thread, comment, work, user, job.")
    subject_id: str
    actor: NotificationActor | None = Field(
        description="Who caused it; null for the hub itself (a finished job)."
    )
    created_at: datetime
    read_at: datetime | None = Field(description="When it was marked read; null while unread.")


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    unread_count: int = Field(description="Your unread notifications, all pages together.")
    next_cursor: str | None = Field(
        None, description="Pass as ?cursor= for the next page; null at end."
    )


class NotificationQuery(BaseModel):
    cursor: str | None = Field(
        None,
        description="Opaque cursor from a previous page's next_cursor.",
        json_schema_extra=CURSOR_SCHEMA,
    )
    limit: int = Field(20, ge=1, le=MAX_LIMIT, description="Items per page (1-100).")
    unread: bool = Field(False, description="Only unread notifications.")

    @field_validator("unread", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        # The document says boolean, which a query spells "true" or "false": not "1", "yes" or
        # "on", which pydantic's lax mode would take.
        if isinstance(value, str):
            if value not in ("true", "false"):
                raise ValueError("use true or false")
            return value == "true"
        return value


class ReadOut(BaseModel):
    marked: int = Field(description="How many notifications this call marked read.")
    unread_count: int


class LiveNotification(BaseModel):
    """A new notification (``type: notification``) on the live stream."""

    type: Literal["notification"] = "notification"
    notification: NotificationOut
    unread_count: int


class LiveRead(BaseModel):
    """Notifications were marked read (on any page or device): ``notification_ids`` lists them,
    or is null for "all up to now"."""

    type: Literal["read"] = "read"
    notification_ids: list[int] | None
    unread_count: int


class LiveHello(BaseModel):
    """The first message of the live stream: the unread count to start the bell from."""

    type: Literal["hello"] = "hello"
    unread_count: int
