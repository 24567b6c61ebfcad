"""Request and response bodies of the prompt library API (they also make its OpenAPI document).

Types are strict, unknown fields refused, and a field that may be left out is not nullable
(docs/api.md). Tags and categories are compared case-insensitively: they are stored NFKC
normalized and case-folded (:func:`hub.prompts.tokens.normalize`), cut to their column's length.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from hub import text
from hub.generation.schemas import MAX_PROMPT_CHARS, MAX_SEED, MAX_STEPS
from hub.pagination import CURSOR_SCHEMA, DEFAULT_LIMIT, MAX_LIMIT
from hub.prompts.tokens import normalize
from hub.prompts.variables import MAX_VARIABLES, NAME_PATTERN

VisibilityName = Literal["public", "private"]
MAX_TAGS = 10
MAX_TAG_CHARS = 32
MAX_CATEGORY_CHARS = 64
MAX_VALUE_CHARS = 500
MAX_BATCH_ITEMS = 32
MAX_ITEM_COUNT = 16
ROOM_SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_PROMPT_TEXT = text.schema_pattern(nul_only=True, required=True)
_NO_NUL = text.schema_pattern(nul_only=True)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _required_text(value: str) -> str:
    if text.refused_character(value) is not None:
        raise ValueError("must not contain control or invisible characters")
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _prompt_text(value: str) -> str:
    value = _no_nul(value)
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _label(limit: int) -> Any:
    def clean(value: str) -> str:
        # Normalizing may lengthen a string (NFKC expands ligatures): cut to the column.
        cleaned = _required_text(value)
        return normalize(cleaned)[:limit].strip() or cleaned[:limit]

    return clean


Title = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra=text.schema_pattern(required=True)),
    AfterValidator(_required_text),
]
Body = Annotated[
    str,
    Field(min_length=1, max_length=MAX_PROMPT_CHARS, json_schema_extra=_PROMPT_TEXT),
    AfterValidator(_prompt_text),
]
Negative = Annotated[
    str,
    Field(max_length=MAX_PROMPT_CHARS, json_schema_extra=_NO_NUL),
    AfterValidator(_no_nul),
]
Tag = Annotated[
    str,
    Field(
        min_length=1, max_length=MAX_TAG_CHARS, json_schema_extra=text.schema_pattern(required=True)
    ),
    AfterValidator(_label(MAX_TAG_CHARS)),
]
Category = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CATEGORY_CHARS,
        json_schema_extra=text.schema_pattern(required=True),
    ),
    AfterValidator(_label(MAX_CATEGORY_CHARS)),
]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
VariableName = Annotated[str, Field(pattern=f"^{NAME_PATTERN}$")]
VariableValue = Annotated[
    str,
    Field(max_length=MAX_VALUE_CHARS, json_schema_extra=_NO_NUL),
    AfterValidator(_no_nul),
]


def _variables_schema(schema: dict[str, Any]) -> None:
    # pydantic states the key rule as patternProperties, which lets keys that do not match
    # through with any value; the server refuses them, so the schema says so.
    (pattern, values), *_ = schema.pop("patternProperties").items()
    schema["propertyNames"] = {"pattern": pattern}
    schema["additionalProperties"] = values


Variables = Annotated[
    dict[VariableName, VariableValue],
    Field(
        max_length=MAX_VARIABLES,
        description="Values of the template's variables by name; left out: their defaults.",
        json_schema_extra=_variables_schema,
    ),
]
RoomSlug = Annotated[str, Field(pattern=ROOM_SLUG_PATTERN, description="A room's slug.")]
ModelId = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra=_NO_NUL),
    AfterValidator(_no_nul),
]
Filter = Annotated[str, Field(min_length=1, max_length=100)]
Cursor = Annotated[str, Field(max_length=200, json_schema_extra=CURSOR_SCHEMA)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptParams(_Body):
    """Room parameters a template sets when used; the room keeps those it leaves out."""

    # Constraints sit on the inner types: on a union with None, pydantic cannot apply them.
    model: ModelId | SkipJsonSchema[None] = None
    size: Annotated[str, Field(pattern=r"^[0-9]{2,5}x[0-9]{2,5}$")] | SkipJsonSchema[None] = None
    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] | SkipJsonSchema[None] = None
    seed: (
        Annotated[int, Field(ge=-1, le=MAX_SEED, description="-1: random.")] | SkipJsonSchema[None]
    ) = None
    strength: (
        Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | SkipJsonSchema[None]
    ) = None
    count: Annotated[int, Field(ge=1, le=4)] | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _not_null(self) -> PromptParams:
        _refuse_nulls(self)
        return self

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def _refuse_nulls(model: BaseModel, nullable: frozenset[str] = frozenset()) -> None:
    for name in model.model_fields_set - nullable:
        if getattr(model, name) is None:
            raise ValueError(f"{name} cannot be null")


class PromptCreateIn(_Body):
    title: Title
    body: Body = Field(
        description="The prompt; ``{name}`` and ``{name=default}`` are variables, ``{{`` and "
        "``}}`` literal braces."
    )
    negative_prompt: Negative = ""
    category: Category | SkipJsonSchema[None] = None
    tags: Tags = Field(default_factory=list)
    params: PromptParams = Field(default_factory=PromptParams)
    visibility: VisibilityName

    @model_validator(mode="after")
    def _not_null(self) -> PromptCreateIn:
        _refuse_nulls(self)
        return self


class PromptPatchIn(_Body):
    """Only the fields sent change; any change makes a new version. ``category: null`` clears
    the category."""

    title: Title | SkipJsonSchema[None] = None
    body: Body | SkipJsonSchema[None] = None
    negative_prompt: Negative | SkipJsonSchema[None] = None
    category: Category | None = None
    tags: Tags | SkipJsonSchema[None] = None
    params: PromptParams | SkipJsonSchema[None] = None
    visibility: VisibilityName | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _not_null(self) -> PromptPatchIn:
        _refuse_nulls(self, frozenset({"category"}))
        return self

    def changes(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            found[name] = value.as_dict() if isinstance(value, PromptParams) else value
        return found


class PromptCreated(BaseModel):
    id: int = Field(description="The template's id.")
    version: int = Field(description="The version this request made.")


class UserRef(BaseModel):
    user_id: int
    username: str
    display_name: str


class VariableOut(BaseModel):
    name: str
    default: str | None


class PromptOut(BaseModel):
    prompt_id: int
    title: str
    body: str
    negative_prompt: str
    category: str | None
    tags: list[str]
    params: dict[str, Any]
    variables: list[VariableOut] = Field(description="In order of first appearance.")
    visibility: VisibilityName
    official: bool
    version: int
    usage_count: int
    favorite_count: int
    favorited: bool | None = Field(description="Whether you favorited it; null when signed out.")
    author: UserRef | None
    created_at: datetime
    updated_at: datetime
    url: str


class PromptPage(BaseModel):
    items: list[PromptOut]
    next_cursor: str | None = None


class PromptListQuery(_Query):
    scope: Literal["public", "mine", "favorites"] = Field(
        "public", description="public: everyone's public templates; mine / favorites: sign in."
    )
    tag: Filter | SkipJsonSchema[None] = None
    category: Filter | SkipJsonSchema[None] = None
    author: Filter | SkipJsonSchema[None] = Field(None, description="A username.")
    official: bool | SkipJsonSchema[None] = None
    sort: Literal["new", "popular"] = Field("new", description="popular: most used first.")
    cursor: Cursor | SkipJsonSchema[None] = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class VersionOut(BaseModel):
    version: int
    title: str
    body: str
    negative_prompt: str
    category: str | None
    tags: list[str]
    params: dict[str, Any]
    editor: UserRef | None
    restored_from: int | None
    created_at: datetime


class VersionPage(BaseModel):
    items: list[VersionOut] = Field(description="Newest first.")
    next_cursor: str | None = None


class VersionListQuery(_Query):
    cursor: Cursor | SkipJsonSchema[None] = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class DiffQuery(_Query):
    from_version: int = Field(alias="from", ge=1, le=2**31 - 1)
    to_version: int = Field(alias="to", ge=1, le=2**31 - 1)


class DiffPieceOut(BaseModel):
    op: Literal["equal", "delete", "insert"]
    text: str


class ChangeOut(BaseModel):
    before: Any
    after: Any


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    title: list[DiffPieceOut]
    body: list[DiffPieceOut]
    negative_prompt: list[DiffPieceOut]
    tags_added: list[str]
    tags_removed: list[str]
    category: ChangeOut | None = Field(description="null when unchanged.")
    params: ChangeOut | None = Field(description="null when unchanged.")


class FavoriteOut(BaseModel):
    prompt_id: int
    favorited: bool
    favorite_count: int


class UseIn(_Body):
    variables: Variables = Field(default_factory=dict)
    room: RoomSlug | SkipJsonSchema[None] = Field(
        None, description="Fill this room (you edit it) instead of opening a new one."
    )

    @model_validator(mode="after")
    def _not_null(self) -> UseIn:
        _refuse_nulls(self)
        return self


class UseOut(BaseModel):
    room: str = Field(description="The slug of the room the template went into.")


class SaveFromRoomIn(_Body):
    room: RoomSlug
    title: Title
    category: Category | SkipJsonSchema[None] = None
    tags: Tags = Field(default_factory=list)
    visibility: VisibilityName

    @model_validator(mode="after")
    def _not_null(self) -> SaveFromRoomIn:
        _refuse_nulls(self)
        return self


class ApplyIn(_Body):
    prompt: str = Field(max_length=MAX_PROMPT_CHARS, json_schema_extra=_NO_NUL)
    variables: Variables = Field(default_factory=dict)

    @model_validator(mode="after")
    def _clean(self) -> ApplyIn:
        _no_nul(self.prompt)
        return self


class ApplyOut(BaseModel):
    prompt: str
    negative_prompt: str


class SuggestQuery(_Query):
    q: Annotated[str, AfterValidator(_no_nul)] = Field(
        "", max_length=200, description="What is typed so far.", json_schema_extra=_NO_NUL
    )
    limit: int = Field(8, ge=1, le=20, description="Most items of each kind.")


class SuggestItem(BaseModel):
    kind: Literal["completion", "tag", "template", "work"]
    text: str = Field(
        description="completion: the phrase; tag: the tag; template and work: its title."
    )
    replaces: str | None = Field(
        None, description="completion: the end of q it completes (replace it with text)."
    )
    prompt_id: int | None = None
    official: bool | None = None
    work_id: int | None = Field(None, description="work: a popular published work's id.")
    url: str | None = Field(None, description="work: its artwork page.")


class SuggestOut(BaseModel):
    items: list[SuggestItem]


class LibraryBatchItem(_Body):
    prompt_id: int = Field(ge=1, le=2**31 - 1)
    variables: Variables = Field(default_factory=dict)
    count: int = Field(1, ge=1, le=MAX_ITEM_COUNT, description="Jobs of this prompt.")


class LibraryBatchIn(_Body):
    name: Title
    items: list[LibraryBatchItem] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)
    model: ModelId | SkipJsonSchema[None] = Field(
        None, description="Default: each template's model, else the first one you may use."
    )

    @model_validator(mode="after")
    def _not_null(self) -> LibraryBatchIn:
        _refuse_nulls(self)
        return self
