"""Request and response bodies of the credits API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub import text
from hub.pagination import Page

# One operation never moves more than this: keeps sums far from 64-bit limits and typos visible.
MAX_OPERATION_CREDITS = 1_000_000_000


class BalanceOut(BaseModel):
    user_id: int
    balance: int = Field(description="Spendable credits.")
    reserved: int = Field(description="Credits held for queued and running jobs.")


class LedgerEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entry_id: int
    kind: str = Field(description="grant, purchase, reserve, charge, refund or adjust.")
    amount: int = Field(description="Change of balance + reserved (what was really gained/spent).")
    held: int = Field(description="Change of the reserved credits.")
    balance_after: int
    reserved_after: int
    job_id: str | None
    memo: str
    actor_id: int | None
    created_at: datetime


class LedgerPage(Page[LedgerEntryOut]):
    pass


class AdjustIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: int = Field(ge=1)
    amount: int = Field(
        ge=-MAX_OPERATION_CREDITS,
        le=MAX_OPERATION_CREDITS,
        description="Credits to add (positive) or remove (negative); never zero.",
        json_schema_extra={"not": {"const": 0}},
    )
    memo: str = Field(
        min_length=1,
        max_length=500,
        description="Why (kept in the ledger).",
        json_schema_extra=text.schema_pattern(nul_only=True, required=True),
    )
    idempotency_key: str | None = Field(
        None,
        min_length=8,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Repeat a request with the same key and it is applied once.",
    )
    force: bool = Field(
        False,
        description="Take a removal that exceeds the balance anyway, down to zero (never below); "
        "the memo is the reason.",
    )

    @field_validator("amount")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("amount must not be zero")
        return value

    @field_validator("memo")
    @classmethod
    def _memo_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("memo must not be blank")
        if "\x00" in value:
            raise ValueError("memo must not contain NUL characters")
        return value.strip()


class AdjustOut(BaseModel):
    entry: LedgerEntryOut
    balance: BalanceOut
