"""Errors of the job queue: API errors (HubError subclasses) and the runner failure type."""

from __future__ import annotations

from hub.errors import (
    Conflict,
    ErrorCode,
    Forbidden,
    HubError,
    NotFound,
    RateLimited,
    ValidationFailed,
)


class UnknownModel(ValidationFailed):
    default_message = "There is no such model."


class ModelNotAllowed(Forbidden):
    default_message = "Your account cannot use this model."


class JobNotFound(NotFound):
    default_message = "There is no such job."


class BatchNotFound(NotFound):
    default_message = "There is no such batch."


class JobAlreadyFinished(Conflict):
    default_message = "The job has already finished."


class QueueLimitReached(RateLimited):
    default_message = "You have too many queued jobs; wait for some to finish."


class JobError(Exception):
    """What a runner raises to fail a job with a clear reason.

    Provider errors (``hub.generation.providers.base.ProviderError``) carry the same attributes
    and are handled alike: the worker reads ``message``, ``code``, ``retryable`` and
    ``retry_after`` from whatever a runner raises (duck typing), so either works.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "job_failed",
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class JobInterrupted(Exception):
    """Raised inside a runner (by ``JobContext.raise_if_stopped``) when the job must stop."""


class NotRoomEditor(Forbidden):
    default_message = "Only the room's editors and its owner can start generations."


class TooManyJobStreams(RateLimited):
    default_message = "You have too many job event streams open; close one first."


class PromptBlocked(HubError):
    """A prompt holds a term of the moderators' block-list (hub/generation/blocklist.py)."""

    code = ErrorCode.prompt_blocked
    status = 422
    default_message = "The prompt contains a blocked term."
