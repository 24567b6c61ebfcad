"""Cursor pagination on ``(created_at, id)``.

Never OFFSET: cursors stay stable under inserts and use the index.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from hub.errors import BadRequest
from rooms import jsontext

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class PageParams(BaseModel):
    cursor: str | None = Field(
        None, description="Opaque cursor from a previous page's next_cursor."
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1-100).")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as ?cursor= for the next page; null at end."
    )


def encode_cursor(created_at: datetime, row_id: Any) -> str:
    raw = json.dumps([created_at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = jsontext.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created), row_id
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise BadRequest("The cursor is not valid; start again without it.") from exc
