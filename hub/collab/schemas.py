"""Request and response bodies of the rooms API (they also feed the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from hub import text
from hub.pagination import CURSOR_SCHEMA, DEFAULT_LIMIT, MAX_LIMIT
from rooms.types import Role

VisibilityName = Literal["public", "unlisted", "private"]
PayerName = Literal["member", "owner"]
# The roles an owner may grant: values of rooms.types.Role (ownership moves only by transfer).
# A Literal of the wire values keeps the OpenAPI enum and the 422 message of a wrong role plain.
GrantableRole = Literal["editor", "viewer"]
InviteState = Literal["active", "expired", "revoked", "exhausted"]
Scope = Literal["mine", "public", "live"]

MAX_EXPIRES_IN = 30 * 24 * 3600
MAX_MEMBERS_LIMIT = 10_000


def _clean_text(value: str, *, multiline: bool) -> str:
    if text.refused_character(value, allow=text.MULTILINE if multiline else "") is not None:
        raise ValueError("must not contain control or invisible characters")
    return value.strip()


def _title(value: str) -> str:
    value = _clean_text(value, multiline=False)
    if not value:
        raise ValueError("must not be blank")
    return value


def _description(value: str) -> str:
    return _clean_text(value, multiline=True)


Title = Annotated[
    str,
    Field(min_length=1, max_length=120, json_schema_extra=text.schema_pattern(required=True)),
    AfterValidator(_title),
]
Description = Annotated[
    str,
    Field(max_length=2000, json_schema_extra=text.schema_pattern(allow=text.MULTILINE)),
    AfterValidator(_description),
]
MaxMembers = Annotated[int, Field(ge=1, le=MAX_MEMBERS_LIMIT)]


class _In(BaseModel):
    # Unknown fields are refused with a clear 422 instead of being silently ignored.
    model_config = ConfigDict(extra="forbid")


class _Body(_In):
    # A JSON body's values have the JSON type the schema names (1 is not true, "5" not 5).
    model_config = ConfigDict(extra="forbid", strict=True)


class RoomCreateIn(_Body):
    title: Title
    description: Description = ""
    visibility: VisibilityName = "private"
    allow_anonymous_view: bool = Field(
        False, description="Public rooms only: let visitors who are not signed in watch."
    )
    payer: PayerName = Field("member", description="Who pays for generations in the room.")
    max_members: MaxMembers | None = Field(None, description="Most members (null: no limit).")


class RoomPatchIn(_Body):
    """Only the fields sent are changed; ``max_members: null`` removes the limit."""

    # Leave a field out to keep it; null is a value of max_members alone (the schema says so).
    title: Title | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    visibility: VisibilityName | SkipJsonSchema[None] = None
    allow_anonymous_view: bool | SkipJsonSchema[None] = None
    payer: PayerName | SkipJsonSchema[None] = None
    max_members: MaxMembers | None = None

    @model_validator(mode="after")
    def _only_max_members_is_nullable(self) -> RoomPatchIn:
        for name in self.model_fields_set - {"max_members"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class RoomListQuery(_In):
    scope: Scope = Field("public", description="mine, public, or live (members online now).")
    cursor: str | None = Field(None, max_length=200, json_schema_extra=CURSOR_SCHEMA)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class PageQuery(_In):
    cursor: str | None = Field(None, max_length=200, json_schema_extra=CURSOR_SCHEMA)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class UserRef(BaseModel):
    user_id: int
    username: str
    display_name: str


class RoomOut(BaseModel):
    slug: str
    title: str
    description: str
    visibility: VisibilityName
    allow_anonymous_view: bool
    owner: UserRef | None
    state: Literal["open", "closed", "archived"]
    payer: PayerName
    max_members: int | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    my_role: Role | None = Field(
        None, description="Your role here (viewer when you watch a room you are not a member of)."
    )
    online: int = Field(0, description="Sockets connected to the room's document right now.")
    page_url: str
    yjs_path: str = Field(description="y-websocket URL path (the room name is its last part).")
    events_path: str


class RoomPage(BaseModel):
    items: list[RoomOut]
    next_cursor: str | None = None


class TransferIn(_Body):
    user_id: int = Field(ge=1, le=2**63 - 1, description="The new owner; must already be a member.")


class MemberRoleIn(_Body):
    role: GrantableRole


class MemberOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: Role
    joined_at: datetime
    online: bool


class OnlineOut(BaseModel):
    user_id: int | None = Field(description="null for visitors who are not signed in.")
    name: str | None
    role: Role
    connections: int


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None = None
    online: list[OnlineOut] = Field(description="Everyone connected now, members or not.")


class InviteCreateIn(_Body):
    role: GrantableRole = "editor"
    expires_in: int | None = Field(
        7 * 24 * 3600,
        ge=60,
        le=MAX_EXPIRES_IN,
        description="Seconds until the invite expires (null: never).",
    )
    max_uses: int | None = Field(None, ge=1, le=10_000, description="null: unlimited.")


class InviteOut(BaseModel):
    invite_id: int
    role: GrantableRole
    state: InviteState
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked_at: datetime | None
    created_at: datetime
    created_by: int


class InviteCreated(BaseModel):
    invite: InviteOut
    token: str = Field(description="Shown once; only its digest is stored.")
    url: str = Field(description="The link to share: /join/{token} on this hub.")


class InvitePage(BaseModel):
    items: list[InviteOut]
    next_cursor: str | None = None


class InviteAccepted(BaseModel):
    room: RoomOut
    role: Role
    joined: bool = Field(description="False when you were a member already (role kept or raised).")


class ChatQuery(_In):
    before: int | None = Field(
        None, ge=1, le=2**63 - 1, description="Only messages with a lower seq."
    )
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class ChatMessageOut(BaseModel):
    seq: int
    ts: datetime
    user_id: int | None
    name: str | None
    text: str


class ChatPage(BaseModel):
    items: list[ChatMessageOut] = Field(description="Newest first.")
    next_before: int | None = Field(None, description="Pass as ?before= for older messages.")


class DocumentOut(BaseModel):
    prompt: str
    negative: str
    params: dict[str, Any]
    source: Literal["live", "store"] = Field(
        description="live: read from the room loaded in this process; store: from the database."
    )


class HistoryQuery(_In):
    before: int | None = Field(
        None, ge=1, le=2**63 - 1, description="Only snapshots with a lower id."
    )
    limit: int = Field(20, ge=1, le=MAX_LIMIT)


class SnapshotOut(BaseModel):
    snapshot_id: int
    created_at: datetime
    update_count: int
    authors: list[UserRef]
    document: dict[str, Any] = Field(description="prompt, negative and params at that point.")


class HistoryPage(BaseModel):
    items: list[SnapshotOut] = Field(description="Newest first.")
    next_before: int | None = None
