"""Request and response shapes of the image library and uploads API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.pagination import Page, PageParams

MAX_DOWNLOAD_IMAGES = 100


def _blank_to_none(value: Any) -> Any:
    # Search forms send every field, empty ones as "": that means "no filter".
    if isinstance(value, str):
        value = value.strip()
        return value or None
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
        description="Words that must all appear in the prompt (case-insensitive substring match).",
    )
    model: str | None = Field(None, max_length=64, description="Only images of this model id.")
    room: str | None = Field(None, max_length=128, description="Only images from this room.")
    since: datetime | None = Field(
        None, description="Created at or after (ISO 8601; no offset means UTC)."
    )
    until: datetime | None = Field(None, description="Created before (ISO 8601; exclusive).")

    _blank = field_validator("q", "model", "room", "since", "until", "cursor", mode="before")(
        _blank_to_none
    )

    @field_validator("since", "until")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> ImageQuery:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be earlier than until")
        return self

    @property
    def terms(self) -> list[str]:
        return self.q.split()[:8] if self.q else []


class DownloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_ids: list[str] = Field(
        min_length=1,
        max_length=MAX_DOWNLOAD_IMAGES,
        description=f"Images to put in one zip archive (1 to {MAX_DOWNLOAD_IMAGES}).",
    )

    @field_validator("image_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        if any(not item or len(item) > 64 for item in value):
            raise ValueError("image ids are non-empty strings of at most 64 characters")
        return list(dict.fromkeys(value))  # duplicates would only repeat a file


UploadPurposeName = Literal["source", "avatar"]


class UploadForm(BaseModel):
    """``multipart/form-data`` fields of an upload (documentation of the request body)."""

    file: bytes = Field(
        json_schema_extra={"format": "binary"},
        description="A PNG, JPEG or WebP image. It is re-encoded: metadata is not kept.",
    )
    purpose: UploadPurposeName = Field(
        "source",
        description="source: an img2img source; avatar: a 256 px square that becomes your avatar.",
    )


class AvatarForm(BaseModel):
    """``multipart/form-data`` fields of an avatar upload."""

    file: bytes = Field(
        json_schema_extra={"format": "binary"}, description="A PNG, JPEG or WebP image."
    )


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
