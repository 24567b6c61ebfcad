"""Tables of the job queue: ``jobs`` and the single-row ``queue_control``.

A job moves ``queued -> running -> succeeded | failed | canceled`` (and back to ``queued`` for a
retry, an expired lease or a graceful release). Every transition is one conditional UPDATE on the
current state (and, for a running job, on the worker that holds its lease), so two processes can
never both win one; the credits settlement rides in the same transaction (docs/jobs.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, now_field


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"


TERMINAL_STATES = (JobState.succeeded, JobState.failed, JobState.canceled)


class JobKind(StrEnum):
    text2img = "text2img"
    img2img = "img2img"
    batch_member = "batch-member"


def _user_fk(table: str, column: str) -> ForeignKey:
    return ForeignKey("users.user_id", ondelete="CASCADE", name=f"fk_{table}_{column}_users")


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')",
            name="ck_jobs_state",
        ),
        CheckConstraint("kind IN ('text2img', 'img2img', 'batch-member')", name="ck_jobs_kind"),
        CheckConstraint("cost >= 0", name="ck_jobs_cost_nonneg"),
        # Claim candidates: queued jobs by priority whose retry delay has passed.
        Index("ix_jobs_claim", "state", "priority", "next_attempt_at"),
        # Running jobs per user (caps) and the user's last claim (fair share).
        Index("ix_jobs_user_state", "user_id", "state"),
        Index("ix_jobs_user_claimed", "user_id", "claimed_at"),
        # Expired leases.
        Index("ix_jobs_lease", "state", "locked_until"),
        # "My jobs", newest first.
        Index("ix_jobs_owner_created", "owner_id", "created_at", "job_id"),
        # Step timings per model (ETA) and retention cleanup.
        Index("ix_jobs_model_finished", "model", "state", "finished_at"),
        Index("ix_jobs_state_finished", "state", "finished_at"),
        Index("ix_jobs_batch", "batch_id"),
    )

    # Time-ordered UUID (v7 layout): FIFO order survives equal timestamps.
    job_id: str = Field(sa_column=Column(String(36), primary_key=True))
    # Who pays (credits are reserved from this wallet).
    user_id: int = Field(sa_column=Column(Integer, _user_fk("jobs", "user_id"), nullable=False))
    # Who pressed generate (can see and cancel it).
    owner_id: int = Field(sa_column=Column(Integer, _user_fk("jobs", "owner_id"), nullable=False))
    # The room the job was started in (slug or id as text); a plain column, no foreign key.
    room_id: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    batch_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    model: str = Field(sa_column=Column(String(64), nullable=False))
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    negative_prompt: str = Field(default="", sa_column=Column(Text, nullable=False))
    # width, height, steps, seed, count, strength (img2img).
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source_image_key: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))
    # Higher first: members' jobs get HUB_MEMBERSHIP_PRIORITY ("VIP first", docs/payments.md).
    priority: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # The payer's cap on running jobs when it was queued (members get more); None: the
    # HUB_JOBS_PER_USER_RUNNING default. The claim reads it, so the queue never asks payments.
    running_cap: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    state: str = Field(default=JobState.queued.value, sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    max_attempts: int = Field(default=3, sa_column=Column(Integer, nullable=False))
    next_attempt_at: datetime = now_field()
    locked_by: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    locked_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    cancel_requested: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    error_code: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    error_message: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))
    cost: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    step: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    total_steps: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_at: datetime = now_field()
    # The latest claim (fair share: least recently served user first; run time for the ETA).
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # {"images": [{"key", "image_id", "width", "height", "seed", "mime", "url"}]}
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class QueueControl(SQLModel, table=True):
    """One row (``queue_id = 1``). Claims lock it first, which serializes claim decisions (caps,
    fair share) across workers on Postgres and takes SQLite's write lock up front."""

    __tablename__ = "queue_control"

    queue_id: int = Field(
        default=1, sa_column=Column(Integer, primary_key=True, autoincrement=False)
    )
    paused: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    paused_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    paused_by: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "users.user_id", ondelete="SET NULL", name="fk_queue_control_paused_by_users"
            ),
            nullable=True,
        ),
    )
    claim_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = now_field()


class JobBatch(SQLModel, table=True):
    """A named group of jobs submitted together (a batch from the prompt library, or a
    ``kind: batch`` request). Its jobs carry its ``batch_id``; progress and totals are counted
    from them, so the row holds only what the jobs cannot say."""

    __tablename__ = "job_batches"
    __table_args__ = (Index("ix_job_batches_owner_created", "owner_id", "created_at", "batch_id"),)

    batch_id: str = Field(sa_column=Column(String(36), primary_key=True))
    owner_id: int = Field(
        sa_column=Column(Integer, _user_fk("job_batches", "owner_id"), nullable=False)
    )
    name: str = Field(default="", sa_column=Column(String(200), nullable=False))
    job_count: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = now_field()
    canceled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class BlockedTerm(SQLModel, table=True):
    """One entry of the prompt block-list (:mod:`hub.generation.blocklist`), kept by moderators.
    ``term_key`` is the normalized form the matcher uses; it is unique, so adding a term twice
    (in any letter case or width) finds the existing row."""

    __tablename__ = "blocked_terms"
    __table_args__ = (UniqueConstraint("term_key", name="uq_blocked_terms_term_key"),)

    term_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    term: str = Field(sa_column=Column(String(200), nullable=False))
    term_key: str = Field(sa_column=Column(String(200), nullable=False))
    # No foreign key: the list outlives the moderator who wrote an entry.
    created_by: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = now_field()


class ModelAccess(SQLModel, table=True):
    """The lowest site role that may use a model (admins set it, docs/admin.md). A model
    without a row keeps its preset's own rule (``ModelPreset.roles_allowed``); a row narrows or
    widens it for every process at once, since the check reads the database."""

    __tablename__ = "model_access"
    __table_args__ = (
        CheckConstraint(
            "min_role IN ('user', 'moderator', 'admin')", name="ck_model_access_min_role"
        ),
    )

    model_id: str = Field(sa_column=Column(String(64), primary_key=True))
    min_role: str = Field(sa_column=Column(String(16), nullable=False))
    updated_at: datetime = now_field()
    updated_by: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
