"""The stats dashboard's query and answer (``GET /api/v1/admin/stats``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_DAYS = 365


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(30, ge=1, le=MAX_DAYS, description="Days to cover, today included.")


class ProviderJobs(BaseModel):
    provider: str
    total: int
    by_state: dict[str, int]


class StatsOut(BaseModel):
    """One value per day of ``days`` (oldest first) in every per-day list."""

    days: list[str] = Field(description="The days covered, ``YYYY-MM-DD`` (UTC), oldest first.")
    signups: list[int]
    active_users: list[int] = Field(
        description="Distinct users who submitted a job or used a browser session that day."
    )
    active_rooms: list[int] = Field(description="Rooms with room-stream activity that day.")
    live_rooms: int = Field(description="Rooms loaded in the answering process right now.")
    jobs_by_state: dict[str, list[int]] = Field(
        description="Jobs created per day, by the state they are in now."
    )
    jobs_by_provider: list[ProviderJobs]
    median_job_seconds: list[float | None] = Field(
        description="Median run time of the jobs that succeeded that day (null: none)."
    )
    credits_granted: list[int]
    credits_spent: list[int]
    works_published: list[int]
    threads_started: list[int]
