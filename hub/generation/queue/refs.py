"""The small value types the queue hands to the worker, the runners and the event sinks."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from hub.generation.models import Job


@dataclass(frozen=True)
class JobRef:
    """What an event sink needs to route a job event (room stream, owner's personal stream)."""

    job_id: str
    user_id: int
    owner_id: int
    room_id: str | None
    batch_id: str | None
    model: str
    kind: str


def job_ref(job: Job) -> JobRef:
    return JobRef(
        job_id=job.job_id,
        user_id=job.user_id,
        owner_id=job.owner_id,
        room_id=job.room_id,
        batch_id=job.batch_id,
        model=job.model,
        kind=job.kind,
    )


@dataclass(frozen=True)
class ImageRef:
    """One produced image, as stored by the runner (the runner owns the pixels)."""

    key: str
    image_id: str | int | None = None
    url: str | None = None
    thumb_url: str | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    mime: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Outcome = Literal["succeeded", "retry", "failed", "canceled", "released", "requeued"]


@dataclass(frozen=True)
class Settled:
    job: Job
    outcome: Outcome
