"""Request and response bodies of the admin API (``/api/v1/admin/...``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from hub.accounts.roles import UserRole
from hub.pagination import CURSOR_SCHEMA, Page, PageParams
from hub.site import ANNOUNCEMENT_MAX

REASON_MAX = 500


def _clean_reason(value: str | None) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value.strip() or None


# --- users ---------------------------------------------------------------------------------------


class UserListQuery(PageParams):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(
        None, min_length=1, max_length=100, description="Part of a username, name or email."
    )
    role: UserRole | None = None
    is_active: bool | None = None

    @field_validator("q")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class AdminUserOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    email: str
    role: UserRole
    is_active: bool
    email_verified: bool
    created_at: datetime


class AdminUserPage(Page[AdminUserOut]):
    pass


class UserPatchIn(BaseModel):
    # Not strict as a whole: the role arrives as a string for the enum.
    model_config = ConfigDict(extra="forbid")

    is_active: StrictBool | None = Field(
        None, description="false disables the account, true enables."
    )
    # Not nullable in the schema: a role is a value or absent.
    role: UserRole | SkipJsonSchema[None] = Field(None, description="The new site role.")
    reason: StrictStr | None = Field(
        None, max_length=REASON_MAX, description="Kept in the audit log."
    )

    _reason = field_validator("reason")(_clean_reason)

    @model_validator(mode="after")
    def _something(self) -> UserPatchIn:
        if self.is_active is None and self.role is None:
            raise ValueError("send is_active or role")
        return self


# --- rooms ---------------------------------------------------------------------------------------


class RoomListQuery(PageParams):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, min_length=1, max_length=100, description="Part of a title/slug.")
    state: Literal["open", "closed", "archived"] | None = None

    @field_validator("q")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=1, max_length=REASON_MAX, description="Kept in the audit log.")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        cleaned = _clean_reason(value)
        if cleaned is None:
            raise ValueError("must not be blank")
        return cleaned


class OptionalReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str | None = Field(None, max_length=REASON_MAX, description="Kept in the audit log.")

    _reason = field_validator("reason")(_clean_reason)


# --- site ----------------------------------------------------------------------------------------


class SiteOut(BaseModel):
    announcement: str = Field(description="Banner text shown on every page; empty for none.")
    signups_open: bool = Field(description="Whether people may register.")
    pre_review_new_accounts: bool = Field(
        description="Whether new accounts' posts wait for a moderator."
    )
    max_concurrent_jobs_per_user: int | None = Field(
        description="Most running jobs per user; null: HUB_JOBS_PER_USER_RUNNING."
    )


class SitePublicOut(BaseModel):
    announcement: str = Field(description="Banner text to show on every page; empty for none.")
    signups_open: bool = Field(description="Whether people may register.")


class SitePatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    announcement: str | None = Field(None, max_length=ANNOUNCEMENT_MAX)
    signups_open: bool | None = None
    pre_review_new_accounts: bool | None = None
    max_concurrent_jobs_per_user: int | None = Field(None, ge=1, le=1000)
    reason: str | None = Field(None, max_length=REASON_MAX, description="Kept in the audit log.")

    _reason = field_validator("reason")(_clean_reason)

    @field_validator("announcement")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value.strip() if value is not None else None

    def changes(self) -> dict[str, Any]:
        """The settings sent (``max_concurrent_jobs_per_user: null`` is a change: back to the
        environment's value; a null elsewhere is refused)."""
        sent = {name: getattr(self, name) for name in self.model_fields_set if name != "reason"}
        for name, value in sent.items():
            if value is None and name != "max_concurrent_jobs_per_user":
                raise ValueError(f"{name} cannot be null")
        if not sent:
            raise ValueError("send at least one setting")
        return sent


# --- audit ---------------------------------------------------------------------------------------


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: int | None = Field(None, ge=1, le=2**31 - 1, description="The acting user's id.")
    action: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z_.]+$",
        description="An action (user.disable) or a family ending in a dot (user.).",
    )
    target_type: str | None = Field(None, min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    target_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    since: datetime | None = Field(None, description="From this time on (ISO 8601, with zone).")
    until: datetime | None = Field(None, description="Before this time (ISO 8601, with zone).")
    cursor: str | None = Field(None, json_schema_extra=CURSOR_SCHEMA)
    limit: int = Field(50, ge=1, le=500)

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-12-05T10:00:00Z)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> AuditQuery:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    audit_id: int
    created_at: datetime
    actor_id: int | None
    action: str
    target_type: str
    target_id: str
    before: Any = None
    after: Any = None
    reason: str | None


class AuditPage(Page[AuditEntryOut]):
    pass


# --- models --------------------------------------------------------------------------------------


class ModelAccessOut(BaseModel):
    id: str
    label: str
    min_role: UserRole | None = Field(
        description="The admins' rule: lowest role that may use it; null: the preset's own."
    )
    preset_roles: list[UserRole] = Field(description="The preset's own roles; empty: everyone.")


class ModelAccessList(BaseModel):
    items: list[ModelAccessOut]


class ModelAccessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_role: UserRole | None = Field(description="null removes the rule.")
    reason: StrictStr | None = Field(None, max_length=REASON_MAX)

    _reason = field_validator("reason")(_clean_reason)
