"""Request and response bodies of the works API (they also feed the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from hub import text
from hub.pagination import CURSOR_SCHEMA, DEFAULT_LIMIT, MAX_LIMIT, Page

MAX_IMAGES = 10  # images of one work
MAX_UPLOADS = 4  # uploads turned into images by one request (each is decoded and re-encoded)
MAX_PROMPT_CHARS = 2000  # as a job's prompt (hub/generation/schemas.py)
MAX_PARAMS = 16
MAX_DESCRIPTION = 5000

StatusName = Literal["draft", "published"]
ReactionName = Literal["like", "favorite"]


def _clean(value: str, *, multiline: bool) -> str:
    if text.refused_character(value, allow=text.MULTILINE if multiline else "") is not None:
        raise ValueError("must not contain control or invisible characters")
    return value.strip()


def _title(value: str) -> str:
    value = _clean(value, multiline=False)
    if not value:
        raise ValueError("must not be blank")
    return value


def _description(value: str) -> str:
    return _clean(value, multiline=True)


def _prompt(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value.strip()


def _required_prompt(value: str) -> str:
    value = _prompt(value)
    if not value:
        raise ValueError("must not be blank")
    return value


def _model_name(value: str) -> str:
    return _clean(value, multiline=False)


Title = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra=text.schema_pattern(required=True)),
    AfterValidator(_title),
]
Description = Annotated[
    str,
    Field(
        max_length=MAX_DESCRIPTION,
        description="Markdown (CommonMark; raw HTML is not rendered).",
        json_schema_extra=text.schema_pattern(allow=text.MULTILINE),
    ),
    AfterValidator(_description),
]
CategorySlug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
MediaId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
ThreadId = Annotated[int, Field(ge=1, le=2**31 - 1)]
ParamValue = Annotated[str, Field(max_length=200)] | int | float | bool


class _Body(BaseModel):
    # Unknown fields are refused (422), and values have the JSON type the schema names.
    model_config = ConfigDict(extra="forbid", strict=True)


class UploadSourceIn(_Body):
    """One of your uploads (``POST /api/v1/uploads``), with the prompt and parameters that made
    it; it becomes an image of your library and of the work."""

    upload_id: MediaId
    prompt: str = Field(
        min_length=1,
        max_length=MAX_PROMPT_CHARS,
        json_schema_extra=text.schema_pattern(nul_only=True, required=True),
    )
    negative_prompt: str = Field(
        "", max_length=MAX_PROMPT_CHARS, json_schema_extra=text.schema_pattern(nul_only=True)
    )
    model: str = Field(
        "",
        max_length=64,
        description="The model that made it, as you name it.",
        json_schema_extra=text.schema_pattern(),
    )
    params: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")], ParamValue] = Field(
        default_factory=dict, max_length=MAX_PARAMS, description="Steps, seed, size, ..."
    )

    @model_validator(mode="after")
    def _cleaned(self) -> UploadSourceIn:
        self.prompt = _required_prompt(self.prompt)
        self.negative_prompt = _prompt(self.negative_prompt)
        self.model = _model_name(self.model)
        return self


def _some_image(schema: dict[str, Any]) -> None:
    # What _images checks, for the schema: at least one image, from either list.
    schema["anyOf"] = [
        {"required": ["image_ids"], "properties": {"image_ids": {"minItems": 1}}},
        {"required": ["uploads"], "properties": {"uploads": {"minItems": 1}}},
    ]


class WorkCreateIn(_Body):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_some_image)

    image_ids: list[MediaId] = Field(
        default_factory=list,
        max_length=MAX_IMAGES,
        description="Images of a room you edit in, or of your library; the first is the cover.",
        json_schema_extra={"uniqueItems": True},
    )
    uploads: list[UploadSourceIn] = Field(
        default_factory=list,
        max_length=MAX_UPLOADS,
        description="Uploads with their own prompt and parameters (after image_ids).",
    )
    title: Title
    description: Description = ""
    status: StatusName = Field("draft", description="draft: only you see it.")
    category: CategorySlug | None = Field(None, description="A forum category slug.")
    thread_id: ThreadId | None = Field(
        None, description="Publish into this thread (a comment) instead of a thread of its own."
    )

    @model_validator(mode="after")
    def _images(self) -> WorkCreateIn:
        count = len(self.image_ids) + len(self.uploads)
        if count == 0:
            raise ValueError("a work needs at least one image (image_ids or uploads)")
        if count > MAX_IMAGES:
            raise ValueError(f"a work has at most {MAX_IMAGES} images")
        if len(set(self.image_ids)) != len(self.image_ids):
            raise ValueError("image_ids must not repeat")
        if len({u.upload_id for u in self.uploads}) != len(self.uploads):
            raise ValueError("uploads must not repeat")
        return self


class WorkPatchIn(_Body):
    """Only the fields sent change; ``category: null`` removes the category."""

    title: Title | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    category: CategorySlug | None = None

    @model_validator(mode="after")
    def _only_category_is_nullable(self) -> WorkPatchIn:
        for name in self.model_fields_set - {"category"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class PublishIn(_Body):
    category: CategorySlug | None = Field(None, description="A forum category slug.")
    thread_id: ThreadId | None = Field(
        None, description="Publish into this thread (a comment) instead of a thread of its own."
    )


class WorkListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: StatusName | None = Field(None, description="Only drafts or only published works.")
    cursor: str | None = Field(
        None, description="Opaque cursor from a previous page.", json_schema_extra=CURSOR_SCHEMA
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


# --- responses ---------------------------------------------------------------------------------


class PersonOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    avatar_url: str
    profile_url: str


class ContributorOut(PersonOut):
    edits: int = Field(description="Steps of the prompt's timeline this person is credited in.")


class WorkImageOut(BaseModel):
    image_id: str
    url: str
    thumb_url: str
    square_url: str
    width: int
    height: int
    seed: int
    model: str
    prompt: str


class DiffPart(BaseModel):
    op: Literal["same", "added", "removed"]
    text: str


class TimelineEntryOut(BaseModel):
    at: datetime
    authors: list[PersonOut]
    prompt: str
    negative: str
    changes: list[DiffPart] = Field(description="The prompt's change from the entry before.")
    baseline: bool = Field(False, description="Where the kept history starts (no one credited).")


class WorkOut(BaseModel):
    id: int = Field(description="The work's id (the same as work_id).")
    work_id: int
    url: str = Field(description="The artwork page, /artwork/{id}/{slug}.")
    title: str
    slug: str
    description: str
    status: StatusName
    category: str | None
    author: PersonOut
    model: str
    prompt: str
    negative_prompt: str
    params: dict[str, Any]
    images: list[WorkImageOut]
    contributors: list[ContributorOut]
    timeline: list[TimelineEntryOut]
    from_room: bool = Field(description="Whether the images came from a room.")
    thread_id: int | None
    like_count: int
    favorite_count: int
    comment_count: int = Field(description="Live comments in the work's discussion thread.")
    view_count: int
    remix_count: int = Field(description="Remixes of this work published so far.")
    parent_work_id: int | None = Field(
        description="The work this one remixes (see GET /api/v1/works/{id}/lineage)."
    )
    liked: bool = Field(description="Whether you like it (false when signed out).")
    favorited: bool
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    hidden: bool = Field(
        False,
        description="Hidden by moderators or held for review: seen by its author and "
        "moderators only.",
    )
    held: bool = Field(False, description="Waiting for a moderator's approval (pre-review).")
    hidden_reason: str | None = Field(None, description="Why moderators hid it.")


class WorkCreatedOut(BaseModel):
    id: int
    work_id: int
    url: str
    thread_id: int | None
    status: StatusName


class WorkSummaryOut(BaseModel):
    work_id: int
    url: str
    title: str
    status: StatusName
    cover_url: str | None
    like_count: int
    favorite_count: int
    created_at: datetime
    published_at: datetime | None


class WorkPage(Page[WorkSummaryOut]):
    pass


# --- remix chain ---------------------------------------------------------------------------------


class RemixIn(_Body):
    use_image_as_source: bool = Field(
        False,
        description="Also copy the work's cover into your uploads and set it as the room's "
        "img2img source (params.source_image).",
    )


class RemixOut(BaseModel):
    room: str = Field(description="The new room's slug; its page is /r/{slug}.")


class LineageQuery(BaseModel):
    """Each side pages on its own: with a cursor for one side only, only that side is
    answered (the other is an empty list with a null cursor)."""

    model_config = ConfigDict(extra="forbid")

    ancestors_cursor: str | None = Field(
        None,
        description="ancestors_next of a previous answer: the ancestors after those.",
        json_schema_extra=CURSOR_SCHEMA,
    )
    remixes_cursor: str | None = Field(
        None,
        description="remixes_next of a previous answer: the remixes after those.",
        json_schema_extra=CURSOR_SCHEMA,
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per side (1-100).")


class LineageWorkOut(BaseModel):
    id: int
    removed: Literal[False] = False
    title: str
    url: str
    author: PersonOut
    cover_url: str | None = Field(description="The cover's thumbnail; null when it is gone.")
    remix_count: int
    published_at: datetime | None


class RemovedWorkOut(BaseModel):
    """A work of the chain that was deleted, hidden or made a draft: it keeps its place."""

    id: int
    removed: Literal[True] = True


LineageItem = LineageWorkOut | RemovedWorkOut


class LineageOut(BaseModel):
    ancestors: list[LineageItem] = Field(
        description="The parent first, then its parent, and so on up to the first work."
    )
    remixes: list[LineageItem] = Field(
        description="Published remixes of this work (direct ones), newest first."
    )
    ancestors_next: str | None = Field(None, description="Pass as ?ancestors_cursor=.")
    remixes_next: str | None = Field(None, description="Pass as ?remixes_cursor=.")
    remix_count: int
