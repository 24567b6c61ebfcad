"""Cursor pagination on ``(created_at, id)``.

Never OFFSET: cursors stay stable under inserts and use the index.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from hub.errors import BadRequest
from rooms import jsontext

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# What a cursor looks like (unpadded base64url). Its content is the hub's own: a cursor it did
# not make is 400 bad_request, the `x-refusals` of every list operation (docs/api.md).
CURSOR_PATTERN = "^[A-Za-z0-9_-]*$"
CURSOR_SCHEMA: dict[str, Any] = {"pattern": CURSOR_PATTERN}
_CURSOR_RE = re.compile(CURSOR_PATTERN)


class PageParams(BaseModel):
    cursor: str | None = Field(
        None,
        description="Opaque cursor from a previous page's next_cursor.",
        json_schema_extra=CURSOR_SCHEMA,
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
        if not _CURSOR_RE.fullmatch(cursor):
            # b64decode would skip the stray characters and read the rest.
            raise ValueError("not base64url")
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = jsontext.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created), row_id
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise BadRequest("The cursor is not valid; start again without it.") from exc
