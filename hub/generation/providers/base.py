"""The provider interface: requests, progress, results and the error hierarchy.

Every image generation backend (the offline engine, ComfyUI, OpenAI-compatible APIs, Gemini,
OpenRouter) implements :class:`Provider`. The worker that runs jobs only ever sees these types, so
a provider's quirks (status codes, JSON shapes, WebSocket frames) end here.

Error messages are shown to end users: they say what happened in plain words. The raw upstream
text goes to ``detail`` (for logs), never to ``message``; ComfyUI, the operator's own server, is
the exception: its validation and execution errors are quoted in ``message``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

MAX_PROMPT_CHARS = 8000
MAX_COUNT = 8
MAX_STEPS = 150
MAX_SEED = 2**63 - 1


class InvalidRequest(ValueError):
    """The request itself is wrong (size, count, prompt...): retrying cannot help."""


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    steps: int = 20
    seed: int = 0
    count: int = 1
    model: str = ""
    # img2img source (PNG/JPEG/WebP bytes); kept out of repr so logs stay readable.
    source_image: bytes | None = field(default=None, repr=False)
    strength: float = 0.6
    # Lets a provider tag remote work with the job and find it again to cancel it.
    job_id: str = ""


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    preview: bytes | None = field(default=None, repr=False)  # small PNG/JPEG preview


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    seed: int


ProgressCallback = Callable[[Progress], Awaitable[None]]


@runtime_checkable
class Provider(Protocol):
    name: str

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedImage]: ...

    async def cancel(self, job_id: str) -> None: ...

    async def aclose(self) -> None: ...


async def no_progress(_progress: Progress) -> None:
    """A progress callback for callers that do not watch progress."""


# --- errors ----------------------------------------------------------------------------------


class ProviderError(Exception):
    """A provider failed. ``retryable`` tells the job queue whether another attempt may succeed.

    ``code`` is a stable machine-readable string (API payloads, metrics); ``message`` is for
    people; ``detail`` is the upstream's own words for the logs; ``retry_after`` (seconds) is the
    upstream's hint, when it gave one.
    """

    default_code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        code: str | None = None,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code or self.default_code
        self.detail = detail
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, "
            f"retryable={self.retryable})"
        )


class SafetyBlocked(ProviderError):
    """The provider refused the prompt or the image under its content policy."""

    default_code = "safety_blocked"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message, retryable=False, detail=detail)


class QuotaExceeded(ProviderError):
    """Rate limited (HTTP 429). A daily quota will not come back today, so it is final."""

    default_code = "quota_exceeded"

    def __init__(
        self,
        message: str,
        *,
        daily: bool = False,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            retryable=not daily,
            code="quota_exceeded_daily" if daily else None,
            detail=detail,
            retry_after=retry_after,
        )
        self.daily = daily


class NoCredit(ProviderError):
    """The account behind the provider has no credit left (HTTP 402)."""

    default_code = "no_credit"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message, retryable=False, detail=detail)


class ProviderTimeout(ProviderError):
    default_code = "timeout"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message, retryable=True, detail=detail)


class BadResponse(ProviderError):
    """The provider answered something we cannot use (malformed JSON, no image, bad image)."""

    default_code = "bad_response"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message, retryable=False, detail=detail)


class ProviderUnavailable(ProviderError):
    """Connection failed or the provider answered 5xx."""

    default_code = "unavailable"

    def __init__(self, message: str, *, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, retryable=True, detail=detail, retry_after=retry_after)


class Canceled(ProviderError):
    default_code = "canceled"

    def __init__(self, message: str = "The generation was canceled.", *, detail: str = "") -> None:
        super().__init__(message, retryable=False, detail=detail)


class AuthFailed(ProviderError):
    """The provider rejected our credentials (HTTP 401/403): an operator must fix the config."""

    default_code = "auth_failed"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message, retryable=False, detail=detail)


class RequestRejected(ProviderError):
    """The provider refused the request as invalid (HTTP 400/404/422, bad workflow)."""

    default_code = "rejected"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message, retryable=False, detail=detail)


class GenerationFailed(ProviderError):
    """The provider accepted the job but failed while running it (node error, text-only answer)."""

    default_code = "generation_failed"

    def __init__(self, message: str, *, retryable: bool = False, detail: str = "") -> None:
        super().__init__(message, retryable=retryable, detail=detail)


# --- request validation ----------------------------------------------------------------------


def validate_request(
    request: GenerationRequest,
    *,
    min_side: int = 64,
    max_side: int = 2048,
    multiple: int = 8,
    max_count: int = MAX_COUNT,
    max_steps: int = MAX_STEPS,
) -> None:
    """Reject requests no provider can run, raising :class:`InvalidRequest` with a clear message."""
    if not isinstance(request.prompt, str) or not request.prompt.strip():
        raise InvalidRequest("The prompt is empty.")
    if len(request.prompt) > MAX_PROMPT_CHARS or len(request.negative_prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"Prompts are limited to {MAX_PROMPT_CHARS} characters.")
    for label, side in (("width", request.width), ("height", request.height)):
        if isinstance(side, bool) or not isinstance(side, int):
            raise InvalidRequest(f"The {label} must be an integer, got {side!r}.")
        if not min_side <= side <= max_side:
            raise InvalidRequest(
                f"The {label} must be between {min_side} and {max_side} pixels, got {side}."
            )
        if side % multiple:
            raise InvalidRequest(f"The {label} must be a multiple of {multiple}, got {side}.")
    if isinstance(request.count, bool) or not isinstance(request.count, int):
        raise InvalidRequest(f"The image count must be an integer, got {request.count!r}.")
    if not 1 <= request.count <= max_count:
        raise InvalidRequest(f"The image count must be between 1 and {max_count}.")
    if isinstance(request.steps, bool) or not isinstance(request.steps, int):
        raise InvalidRequest(f"Steps must be an integer, got {request.steps!r}.")
    if not 1 <= request.steps <= max_steps:
        raise InvalidRequest(f"Steps must be between 1 and {max_steps}, got {request.steps}.")
    if isinstance(request.seed, bool) or not isinstance(request.seed, int):
        raise InvalidRequest(f"The seed must be an integer, got {request.seed!r}.")
    if not 0 <= request.seed <= MAX_SEED - request.count:
        raise InvalidRequest("The seed must be a non-negative 63-bit integer.")
    strength = request.strength
    if (
        isinstance(strength, bool)
        or not isinstance(strength, int | float)
        or not math.isfinite(strength)
        or not 0.0 <= strength <= 1.0
    ):
        raise InvalidRequest(f"Strength must be between 0 and 1, got {strength!r}.")
    if request.source_image is not None and not request.source_image:
        raise InvalidRequest("The source image is empty.")
