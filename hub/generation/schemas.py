"""Request and response bodies of the job API.

The limits here are the single source of truth for job input: ``submit_job`` takes a validated
:class:`JobCreateIn`, so callers other than the HTTP route (rooms) get the same checks. Checks
that depend on the model preset (size ceiling, role) live in the service. :func:`job_out` renders
a job row as its API body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from hub import text
from hub.credits.schemas import BalanceOut
from hub.generation.models import Job, JobState
from hub.generation.queue.refs import ImageRef
from hub.pagination import Page, PageParams

MAX_PROMPT_CHARS = 2000
MAX_IMAGES_PER_JOB = 4
MAX_STEPS = 150
MIN_SIDE = 64
MAX_SIDE = 2048
MAX_SEED = 2**32 - 1
# The schema's own ceiling; settings.job_batch_max_prompts may lower it.
MAX_BATCH_PROMPTS = 64
BATCH_ID_PATTERN = r"^[0-9a-f-]{1,36}$"


# The schema's copy of _clean_text: no NUL, and a prompt is not blank.
_NO_NUL = text.schema_pattern(nul_only=True)
_PROMPT = text.schema_pattern(nul_only=True, required=True)


def _job_shapes(schema: dict[str, Any]) -> None:
    # What _shape checks, for the schema: kind decides which of prompt, prompts,
    # source_image_key and strength a job takes (a left-out kind is text2img).
    null = {"type": "null"}
    schema["oneOf"] = [
        {
            "properties": {
                "kind": {"const": "text2img"},
                "prompt": {"type": "string"},
                "prompts": null,
                "source_image_key": null,
                "strength": null,
            },
            "required": ["prompt"],
        },
        {
            "properties": {
                "kind": {"const": "img2img"},
                "prompt": {"type": "string"},
                "prompts": null,
                "source_image_key": {"type": "string"},
            },
            "required": ["kind", "prompt", "source_image_key"],
        },
        {
            "properties": {
                "kind": {"const": "batch"},
                "prompt": null,
                "prompts": {"type": "array"},
            },
            "required": ["kind", "prompts"],
        },
    ]


def _clean_text(value: str | None, what: str, *, required: bool) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters")
    if required and not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value


class JobCreateIn(BaseModel):
    """``kind`` text2img (one prompt), img2img (one prompt + ``source_image_key``) or batch
    (``prompts``: one job per prompt, each making ``count`` images)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_job_shapes)

    kind: Literal["text2img", "img2img", "batch"] = "text2img"
    model: str = Field(
        min_length=1, max_length=64, description="A model preset id.", json_schema_extra=_NO_NUL
    )
    prompt: str | None = Field(None, max_length=MAX_PROMPT_CHARS, json_schema_extra=_PROMPT)
    prompts: (
        list[Annotated[str, Field(max_length=MAX_PROMPT_CHARS, json_schema_extra=_PROMPT)]] | None
    ) = Field(None, min_length=1, max_length=MAX_BATCH_PROMPTS, description="Batch prompts.")
    negative_prompt: str = Field("", max_length=MAX_PROMPT_CHARS, json_schema_extra=_NO_NUL)
    width: int | None = Field(
        None, ge=MIN_SIDE, le=MAX_SIDE, multiple_of=8, description="Default 512."
    )
    height: int | None = Field(
        None, ge=MIN_SIDE, le=MAX_SIDE, multiple_of=8, description="Default 512."
    )
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="Default: the model's.")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Random when omitted.")
    count: int = Field(1, ge=1, le=MAX_IMAGES_PER_JOB, description="Images per job.")
    strength: float | None = Field(
        None, ge=0.0, le=1.0, allow_inf_nan=False, description="img2img only; default 0.6."
    )
    source_image_key: str | None = Field(
        None, min_length=1, max_length=512, json_schema_extra=_NO_NUL
    )
    room_id: str | None = Field(None, min_length=1, max_length=128, json_schema_extra=_NO_NUL)

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str | None) -> str | None:
        return _clean_text(value, "prompt", required=True)

    @field_validator("negative_prompt", "source_image_key", "room_id", "model")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        return _clean_text(value, "text", required=False)

    @field_validator("prompts")
    @classmethod
    def _prompts(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for index, prompt in enumerate(value):
            if len(prompt) > MAX_PROMPT_CHARS:
                raise ValueError(f"prompt {index + 1} is longer than {MAX_PROMPT_CHARS} characters")
            _clean_text(prompt, f"prompt {index + 1}", required=True)
        return value

    @model_validator(mode="after")
    def _shape(self) -> JobCreateIn:
        if self.kind == "batch":
            if self.prompts is None or self.prompt is not None:
                raise ValueError("a batch takes 'prompts' (a list), not 'prompt'")
        else:
            if self.prompt is None or self.prompts is not None:
                raise ValueError(f"{self.kind} takes one 'prompt', not 'prompts'")
        if self.kind == "img2img" and self.source_image_key is None:
            raise ValueError("img2img needs 'source_image_key' (upload the image first)")
        if self.kind == "text2img" and (
            self.source_image_key is not None or self.strength is not None
        ):
            raise ValueError("'source_image_key' and 'strength' are for img2img")
        return self

    def prompt_list(self) -> list[str]:
        return list(self.prompts) if self.prompts is not None else [self.prompt or ""]


def _strength_needs_source(schema: dict[str, Any]) -> None:
    # A strength (img2img only) comes with a source_image_key.
    schema["anyOf"] = [
        {"properties": {"strength": {"type": "null"}}},
        {"properties": {"source_image_key": {"type": "string"}}, "required": ["source_image_key"]},
    ]


class RoomJobIn(BaseModel):
    """Overrides for a generation started from a room. Every field is optional: what is left out
    comes from the room's document (prompt, negative prompt and ``params``)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_strength_needs_source)

    prompt: str | None = Field(None, max_length=MAX_PROMPT_CHARS, json_schema_extra=_PROMPT)
    negative_prompt: str | None = Field(
        None, max_length=MAX_PROMPT_CHARS, json_schema_extra=_NO_NUL
    )
    model: str | None = Field(None, min_length=1, max_length=64, json_schema_extra=_NO_NUL)
    width: int | None = Field(None, ge=MIN_SIDE, le=MAX_SIDE, multiple_of=8)
    height: int | None = Field(None, ge=MIN_SIDE, le=MAX_SIDE, multiple_of=8)
    steps: int | None = Field(None, ge=1, le=MAX_STEPS)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    count: int | None = Field(None, ge=1, le=MAX_IMAGES_PER_JOB)
    strength: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False)
    source_image_key: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="Makes it img2img.",
        json_schema_extra=_NO_NUL,
    )

    @field_validator("prompt", "negative_prompt", "model", "source_image_key")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        return _clean_text(value, "text", required=False)


# A produced image in the API is the stored ImageRef, fields and all; the subclass only names
# the OpenAPI component (a docstring here would become its description).
class ImageOut(ImageRef):
    pass


_IMAGES = TypeAdapter(list[ImageOut])


class JobErrorOut(BaseModel):
    code: str
    message: str


class JobOut(BaseModel):
    job_id: str
    kind: str
    state: str = Field(description="queued, running, succeeded, failed or canceled.")
    model: str
    prompt: str
    negative_prompt: str
    params: dict[str, Any]
    source_image_key: str | None
    room_id: str | None
    batch_id: str | None
    owner_id: int
    user_id: int = Field(description="Who pays.")
    cost: int
    priority: int
    attempts: int
    max_attempts: int
    step: int
    total_steps: int
    cancel_requested: bool
    error: JobErrorOut | None
    images: list[ImageOut]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    position: int | None = Field(None, description="Place in the queue (1 = next), if queued.")
    eta_s: float | None = Field(None, description="Estimated seconds until it finishes.")


class JobSubmitOut(BaseModel):
    jobs: list[JobOut]
    batch_id: str | None
    cost: int = Field(description="Credits reserved for all the jobs.")
    balance: BalanceOut


class JobPage(Page[JobOut]):
    pass


class JobListQuery(PageParams):
    model_config = ConfigDict(extra="forbid")

    state: Literal["queued", "running", "succeeded", "failed", "canceled"] | None = None
    batch_id: str | None = Field(
        None, pattern=BATCH_ID_PATTERN, description="Only the jobs of this batch."
    )


class QueueItemOut(BaseModel):
    job_id: str
    state: str
    position: int | None = Field(description="1 = next to start; null while running.")
    model: str
    mine: bool
    prompt: str | None = Field(description="Hidden (null) unless yours or from your room.")
    room_id: str | None = Field(description="Hidden (null) unless yours or from your room.")
    step: int
    total_steps: int
    eta_s: float | None


class QueueOut(BaseModel):
    paused: bool
    running: int
    queued: int
    items: list[QueueItemOut] = Field(description="Running jobs first, then the queue in order.")


class QueueStatusOut(BaseModel):
    paused: bool
    paused_at: datetime | None
    paused_by: int | None
    running: int
    queued: int


class ModelOut(BaseModel):
    id: str
    label: str
    cost_per_image: int
    default_steps: int
    max_size: int = Field(description="Longest side in pixels.")


class ModelList(BaseModel):
    items: list[ModelOut]


def job_out(job: Job, *, position: int | None = None, eta_s: float | None = None) -> JobOut:
    result = job.result if isinstance(job.result, dict) else {}
    images = _IMAGES.validate_python(result.get("images", []))
    error = None
    if job.error_code and job.state in (JobState.failed.value, JobState.queued.value):
        error = JobErrorOut(code=job.error_code, message=job.error_message or "")
    return JobOut(
        job_id=job.job_id,
        kind=job.kind,
        state=job.state,
        model=job.model,
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        params=dict(job.params or {}),
        source_image_key=job.source_image_key,
        room_id=job.room_id,
        batch_id=job.batch_id,
        owner_id=job.owner_id,
        user_id=job.user_id,
        cost=job.cost,
        priority=job.priority,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        step=job.step,
        total_steps=job.total_steps,
        cancel_requested=job.cancel_requested,
        error=error,
        images=images,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        position=position,
        eta_s=eta_s,
    )


class BatchOut(BaseModel):
    """A named batch and how far its jobs are (counted from the jobs themselves)."""

    batch_id: str
    name: str
    state: Literal["active", "finished", "canceled"] = Field(
        description="active while a job is queued or running; canceled once cancel was asked."
    )
    total: int = Field(description="Jobs in the batch.")
    queued: int
    running: int
    succeeded: int = Field(description="Completed jobs.")
    failed: int
    canceled: int
    progress: float = Field(
        description="0 to 1: steps done over all the batch's steps (finished jobs count whole)."
    )
    created_at: datetime
    canceled_at: datetime | None


class BatchPage(Page[BatchOut]):
    pass


class BatchListQuery(PageParams):
    model_config = ConfigDict(extra="forbid")
