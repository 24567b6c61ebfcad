"""Request and response bodies of the moderation API (docs/moderation.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictInt, field_validator

from hub import text
from hub.pagination import Page, PageParams

TargetName = Literal["work", "thread", "comment", "room", "user"]
REASON_MAX = 1000


def _clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value.strip()


class ReportIn(BaseModel):
    target_type: TargetName
    target_id: StrictInt | str = Field(
        description="The target's id; a room is named by its slug (its id works too)."
    )
    reason: str = Field(
        min_length=1,
        max_length=REASON_MAX,
        json_schema_extra=text.schema_pattern(nul_only=True, required=True),
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = _clean(value)
        if not value:
            raise ValueError("say what is wrong")
        return value

    @field_validator("target_id")
    @classmethod
    def _target_id(cls, value: int | str) -> int | str:
        if isinstance(value, str) and (len(value) > 128 or "\x00" in value):
            raise ValueError("not an id")
        return value


class TargetOut(BaseModel):
    target_type: TargetName
    target_id: str
    title: str = Field(description="What the queue shows: a work's or thread's title, a name.")
    url: str | None = Field(description="Where moderators look at it.")
    author_id: int | None = Field(description="Its author, the room's owner, or the user.")
    hidden: bool
    held: bool = Field(description="Waiting for approval (pre-review for new accounts).")
    hidden_reason: str | None


class ReportCreatedOut(BaseModel):
    report_id: int | None = Field(
        description="The open report (yours, new or earlier); null when the target is hidden "
        "already (nothing was queued)."
    )
    created: bool = Field(description="Whether this request queued a new report.")
    target: TargetOut


class ReportOut(BaseModel):
    report_id: int
    kind: Literal["report", "pre_review"] = Field(
        description="A user's report, or a new account's post held for approval."
    )
    reporter_id: int | None
    reason: str
    state: Literal["open", "resolved"]
    resolution: Literal["hide", "dismiss", "approve"] | None
    resolution_reason: str | None
    resolved_by: int | None
    created_at: datetime
    resolved_at: datetime | None
    target: TargetOut | None = Field(description="Null when the target was deleted since.")


class ReportPage(Page[ReportOut]):
    """Open reports oldest first; resolved ones newest first."""


class ReportQuery(PageParams):
    state: Literal["open", "resolved"] = "open"
    target_type: TargetName | None = None


class ResolveIn(BaseModel):
    action: Literal["hide", "dismiss", "approve"]
    reason: str = Field(
        "",
        max_length=REASON_MAX,
        description="Required to hide.",
        json_schema_extra=text.schema_pattern(nul_only=True),
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _clean(value)


class ModerationIn(BaseModel):
    reason: str = Field(
        "",
        max_length=REASON_MAX,
        description="Required to hide.",
        json_schema_extra=text.schema_pattern(nul_only=True),
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _clean(value)


class TrustIn(BaseModel):
    level: Literal["new", "member", "trusted"] | None = Field(
        description="null: by account age again (HUB_NEW_ACCOUNT_HOURS)."
    )


class TrustOut(BaseModel):
    user_id: int
    level: Literal["new", "member", "trusted"] | None = Field(description="The level set.")
    effective: Literal["new", "member", "trusted"] = Field(description="The level that applies.")


class BlockedTermIn(BaseModel):
    term: str = Field(
        min_length=1,
        max_length=200,
        json_schema_extra=text.schema_pattern(nul_only=True, required=True),
    )

    @field_validator("term")
    @classmethod
    def _term(cls, value: str) -> str:
        value = _clean(value)
        if not value:
            raise ValueError("a term is not only spaces")
        return value


class BlockedTermOut(BaseModel):
    term_id: int
    term: str
    created_by: int | None
    created_at: datetime


class BlockedTermList(BaseModel):
    items: list[BlockedTermOut]
