"""Request and response shapes of the image library and uploads API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub import text
from hub.pagination import CURSOR_PATTERN, Page, PageParams

MAX_DOWNLOAD_IMAGES = 100


def _blank_to_none(value: Any) -> Any:
    # Search forms send every field, empty ones as "": that means "no filter".
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _blank_only_to_none(value: Any) -> Any:
    # The same for values with a format: a blank one is no filter, others are taken as they are.
    return None if isinstance(value, str) and not value.strip() else value


def _or_blank(schema: dict[str, Any]) -> None:
    # The schema of a search field a form may send blank.
    schema["anyOf"].insert(1, {"type": "string", "pattern": text.blank_pattern()})


def _cursor_or_blank(schema: dict[str, Any]) -> None:
    schema["anyOf"][0]["pattern"] = CURSOR_PATTERN
    _or_blank(schema)


def _not_a_number(value: Any) -> Any:
    # A time is ISO 8601 (the schema's date-time), never a number of seconds: "0.5" is refused.
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("use an ISO 8601 date and time, not a number")
    return value


class ImageView(BaseModel):
    image_id: str
    job_id: str
    room_id: str | None
    index: int
    url: str = Field(description="The original PNG (prompt and parameters in its text chunks).")
    thumb_url: str = Field(description="WebP, the longer side at most 512 px.")
    square_url: str = Field(description="WebP, 200 x 200, centre-cropped.")
    download_url: str = Field(description="The original as an attachment.")
    key: str = Field(description="Storage key of the original (img2img: source_key).")
    mime: str
    width: int
    height: int
    bytes: int
    seed: int
    model: str
    prompt: str
    negative_prompt: str
    params: dict[str, Any]
    created_at: datetime


class ImagePage(Page[ImageView]):
    pass


class ImageQuery(PageParams):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(
        None,
        max_length=200,
        description='Terms that must all match the prompt: words, "a phrase" in quotes, -word to '
        "exclude (at most 8; the search index of docs/search.md).",
    )
    model: str | None = Field(None, max_length=64, description="Only images of this model id.")
    room: str | None = Field(None, max_length=128, description="Only images from this room.")
    cursor: str | None = Field(
        None,
        description="Opaque cursor from a previous page's next_cursor.",
        json_schema_extra=_cursor_or_blank,
    )
    since: datetime | None = Field(
        None,
        description="Created at or after (ISO 8601; no offset means UTC; a date alone is its "
        "midnight).",
        json_schema_extra=_or_blank,
    )
    until: datetime | None = Field(
        None,
        description="Created before (ISO 8601; exclusive). Not after since: no images.",
        json_schema_extra=_or_blank,
    )

    _blank = field_validator("q", "model", "room", mode="before")(_blank_to_none)
    _blank_only = field_validator("since", "until", "cursor", mode="before")(_blank_only_to_none)
    _times = field_validator("since", "until", mode="before")(_not_a_number)

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


class DownloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1,
        max_length=MAX_DOWNLOAD_IMAGES,
        description=f"Images to put in one zip archive (1 to {MAX_DOWNLOAD_IMAGES}).",
    )

    @field_validator("image_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # duplicates would only repeat a file


UploadPurposeName = Literal["source", "avatar"]
_CSRF_FIELD = "With the session cookie: the CSRF token (or send it as X-CSRF-Token)."


class UploadForm(BaseModel):
    """``multipart/form-data`` fields of an upload (documentation of the request body)."""

    model_config = ConfigDict(extra="forbid")

    file: bytes = Field(
        json_schema_extra={"format": "binary"},
        description="A PNG, JPEG or WebP image. It is re-encoded: metadata is not kept.",
    )
    csrf_token: str | None = Field(None, description=_CSRF_FIELD)
    purpose: UploadPurposeName = Field(
        "source",
        description="source: an img2img source; avatar: a 256 px square that becomes your avatar.",
    )


class AvatarForm(BaseModel):
    """``multipart/form-data`` fields of an avatar upload."""

    model_config = ConfigDict(extra="forbid")

    file: bytes = Field(
        json_schema_extra={"format": "binary"}, description="A PNG, JPEG or WebP image."
    )
    csrf_token: str | None = Field(None, description=_CSRF_FIELD)


class UploadView(BaseModel):
    upload_id: str
    key: str = Field(description="Storage key; pass as source_key (or pass the upload_id).")
    url: str
    purpose: UploadPurposeName
    mime: str
    width: int
    height: int
    bytes: int
    created_at: datetime
