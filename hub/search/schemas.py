"""Query and response shapes of ``GET /api/v1/search``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub import text
from hub.pagination import CURSOR_PATTERN, Page, PageParams
from hub.search.models import DocKind

MAX_QUERY_CHARS = 200
_KIND = "(?:{})".format("|".join(k.value for k in DocKind))
KINDS_PATTERN = rf"^{_KIND}(?:,{_KIND})*$"


def _blank_to_none(value: Any) -> Any:
    # Search forms send every field, empty ones as "": that means "no filter".
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _or_blank(schema: dict[str, Any]) -> None:
    # The schema of a field a form may send blank.
    schema["anyOf"].insert(1, {"type": "string", "pattern": text.blank_pattern()})


def _cursor_or_blank(schema: dict[str, Any]) -> None:
    schema["anyOf"][0]["pattern"] = CURSOR_PATTERN
    _or_blank(schema)


def _not_a_number(value: Any) -> Any:
    # A time is ISO 8601 (the schema's date-time), never a number of seconds.
    if isinstance(value, str) and value.strip():
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("use an ISO 8601 date and time, not a number")
    return value


class SearchQuery(PageParams):
    # Only the alias: `type` is the parameter's name, `kinds` is no parameter.
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(
        None,
        max_length=MAX_QUERY_CHARS,
        description='Words that must all match; "a phrase" in quotes; -word to exclude '
        "(at most 8 terms). Empty: everything the filters leave, newest first.",
    )
    kinds: str | None = Field(
        None,
        alias="type",
        max_length=64,
        pattern=KINDS_PATTERN,
        description="Only these kinds, comma-separated: thread, comment, work, user, image.",
        json_schema_extra=_or_blank,
    )
    category: str | None = Field(None, max_length=64, description="Only this category.")
    model: str | None = Field(None, max_length=64, description="Only works/images of this model.")
    since: datetime | None = Field(
        None,
        description="Created at or after (ISO 8601; no offset means UTC).",
        json_schema_extra=_or_blank,
    )
    until: datetime | None = Field(
        None, description="Created before (ISO 8601; exclusive).", json_schema_extra=_or_blank
    )
    sort: Literal["relevance", "newest"] | None = Field(
        None,
        description="relevance (the default with words) or newest (the default without).",
        json_schema_extra=_or_blank,
    )
    cursor: str | None = Field(
        None,
        description="Opaque cursor from a previous page's next_cursor (same query).",
        json_schema_extra=_cursor_or_blank,
    )

    _blank = field_validator("q", "kinds", "category", "model", "sort", mode="before")(
        _blank_to_none
    )
    _times = field_validator("since", "until", mode="before")(_not_a_number)

    @field_validator("since", "until", "cursor", mode="before")
    @classmethod
    def _blank_only(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("since", "until")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:
            # Valid ISO 8601 just outside what UTC can hold here (0001-01-01T00:00+01:00 is
            # before year 1 in UTC): as a bound it means "from the start" or "to the end".
            return (
                datetime.min.replace(tzinfo=UTC)
                if value.year == 1
                else datetime.max.replace(tzinfo=UTC)
            )

    @property
    def kind_list(self) -> list[DocKind]:
        return [DocKind(k) for k in dict.fromkeys(self.kinds.split(","))] if self.kinds else []


class SearchItem(BaseModel):
    kind: DocKind
    ref_id: str = Field(description="The id of the thread, comment, work, user or image.")
    title: str
    snippet: str = Field(description="The start of the body as plain text.")
    url: str = Field(description="Where the hit is (a page or a media URL).")
    image_url: str | None
    owner_id: int | None
    public: bool = Field(description="False: a private document only its owner finds.")
    category: str | None
    model: str | None
    created_at: datetime


class SearchPage(Page[SearchItem]):
    pass
