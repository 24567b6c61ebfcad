"""Request and response bodies of the forum API (they also make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from hub import text
from hub.accounts.schemas import UserPublic
from hub.pagination import CURSOR_SCHEMA, DEFAULT_LIMIT, MAX_LIMIT, Page

MAX_TITLE = 200
# The schema's bound; the server's own (HUB_FORUM_MAX_BODY_CHARS, at most this) answers 413.
MAX_BODY_SCHEMA = 200_000
# Ids are 32-bit INTEGER columns on both databases.
MAX_ID = 2**31 - 1
CATEGORY_SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"


def _title(value: str) -> str:
    if text.refused_character(value) is not None:
        raise ValueError("must not contain control or invisible characters")
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _description(value: str) -> str:
    if text.refused_character(value, allow=text.MULTILINE) is not None:
        raise ValueError("must not contain control or invisible characters")
    return value.strip()


def _body(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Title = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TITLE, json_schema_extra=text.schema_pattern(required=True)),
    AfterValidator(_title),
]
Body = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_BODY_SCHEMA,
        description="Markdown (CommonMark, tables, ~~strikethrough~~; raw HTML is shown as text).",
        json_schema_extra=text.schema_pattern(nul_only=True, required=True),
    ),
    AfterValidator(_body),
]
CategorySlug = Annotated[str, Field(pattern=CATEGORY_SLUG_PATTERN, max_length=64)]
CategoryName = Annotated[
    str,
    Field(min_length=1, max_length=80, json_schema_extra=text.schema_pattern(required=True)),
    AfterValidator(_title),
]
CategoryDescription = Annotated[
    str,
    Field(max_length=500, json_schema_extra=text.schema_pattern(allow=text.MULTILINE)),
    AfterValidator(_description),
]

Position = Annotated[int, Field(ge=0, le=10_000, description="Lower comes first.")]
CommentId = Annotated[int, Field(ge=1, le=MAX_ID)]


class _Body(BaseModel):
    # Unknown fields are refused (422) and JSON types are strict (1 is not true).
    model_config = ConfigDict(extra="forbid", strict=True)


class _Patch(_Body):
    """Only the fields sent change; none of them may be null, and one at least is sent."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def _no_nulls(self) -> _Patch:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


# --- categories --------------------------------------------------------------------------------


class CategoryOut(BaseModel):
    slug: str
    name: str
    description: str
    position: int
    thread_count: int = Field(description="Threads in the category (deleted ones not counted).")
    url: str = Field(description="The category's page, /forum/{slug}.")


class CategoryList(BaseModel):
    items: list[CategoryOut]


class CategoryIn(_Body):
    slug: CategorySlug
    name: CategoryName
    description: CategoryDescription = ""
    position: Position = 0


class CategoryPatchIn(_Patch):
    name: CategoryName | SkipJsonSchema[None] = None
    description: CategoryDescription | SkipJsonSchema[None] = None
    position: Position | SkipJsonSchema[None] = None


# --- threads -----------------------------------------------------------------------------------


class ThreadCreateIn(_Body):
    category: CategorySlug
    title: Title
    body: Body


class ThreadPatchIn(_Patch):
    title: Title | SkipJsonSchema[None] = None
    body: Body | SkipJsonSchema[None] = None


class ThreadCreated(BaseModel):
    thread_id: int
    url: str = Field(description="The thread's page, /t/{thread_id}/{slug}.")


class ThreadOut(BaseModel):
    thread_id: int
    category: str
    title: str
    slug: str
    url: str
    author: UserPublic | None
    body: str = Field(description="The Markdown source.")
    body_html: str = Field(description="The body rendered to sanitized HTML.")
    locked: bool
    pinned: bool
    comment_count: int
    like_count: int
    view_count: int
    liked: bool = Field(description="Whether you like it (false when signed out).")
    created_at: datetime
    last_activity_at: datetime
    edited_at: datetime | None
    hidden: bool = Field(
        False, description="Hidden by moderators or held for review (its author sees why)."
    )
    held: bool = Field(False, description="Waiting for a moderator's approval (pre-review).")
    hidden_reason: str | None = Field(None, description="Why moderators hid it.")


class ThreadSummary(BaseModel):
    thread_id: int
    category: str
    title: str
    url: str
    author: UserPublic | None
    locked: bool
    pinned: bool
    comment_count: int
    like_count: int
    view_count: int
    created_at: datetime
    last_activity_at: datetime


class ThreadPage(Page[ThreadSummary]):
    pass


class ThreadListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: CategorySlug | None = Field(None, description="Only this category's threads.")
    cursor: str | None = Field(None, max_length=300, json_schema_extra=CURSOR_SCHEMA)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


# --- comments ----------------------------------------------------------------------------------


class CommentCreateIn(_Body):
    body: Body
    parent_id: CommentId | SkipJsonSchema[None] = Field(
        None, description="The comment this one answers; leave out to answer the thread."
    )


class CommentPatchIn(_Body):
    body: Body


class CommentCreated(BaseModel):
    comment_id: int
    thread_id: int
    url: str = Field(description="The comment on its thread's page (/t/{id}/{slug}#c{id}).")


class CommentOut(BaseModel):
    comment_id: int
    thread_id: int
    parent_id: int | None
    depth: int = Field(description="Indentation in the reply tree (0: answers the thread).")
    author: UserPublic | None = Field(description="Null for a deleted comment.")
    body: str = Field(description="The Markdown source; empty for a deleted comment.")
    body_html: str
    like_count: int
    liked: bool
    deleted: bool = Field(description="Deleted comments keep their place for their replies.")
    hidden: bool = Field(
        False,
        description="Hidden by moderators (or held for review): empty for everyone but its "
        "author and moderators.",
    )
    hidden_reason: str | None = Field(
        None, description="Why moderators hid it; only its author and moderators see it."
    )
    created_at: datetime
    edited_at: datetime | None


class CommentPage(Page[CommentOut]):
    """A page of the reply tree, depth first: each reply follows the comment it answers."""


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=300, json_schema_extra=CURSOR_SCHEMA)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


# --- edit history and likes --------------------------------------------------------------------


class RevisionOut(BaseModel):
    revision_id: int
    editor: UserPublic | None = Field(description="Who replaced this version.")
    title: str | None = Field(description="Threads only.")
    body: str
    written_at: datetime = Field(description="When this version was written.")
    replaced_at: datetime = Field(description="When an edit replaced it.")


class RevisionPage(Page[RevisionOut]):
    """Earlier versions, newest first."""


class LikeOut(BaseModel):
    liked: bool
    like_count: int
