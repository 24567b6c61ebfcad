"""Helpers shared by the providers: image checks, job tracking for cancel, HTTP error mapping."""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import io
import json
import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import httpx
from PIL import Image, UnidentifiedImageError

from rooms import jsontext

from .base import (
    AuthFailed,
    BadResponse,
    Canceled,
    GeneratedImage,
    GenerationRequest,
    InvalidRequest,
    NoCredit,
    Progress,
    ProgressCallback,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExceeded,
    RequestRejected,
    validate_request,
)

T = TypeVar("T")

# Pillow only warns below ~179 Mpx; we refuse anything a generation could not sensibly produce.
MAX_IMAGE_PIXELS = 4096 * 4096
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
MIME_BY_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DETAIL_CHARS = 500


# --- images ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    mime: str
    width: int
    height: int


def inspect_image(data: bytes, *, decode: bool = True) -> ImageInfo:
    """Identify an encoded image with an allow-list of formats and a pixel limit.

    ``decode=True`` decodes every pixel, so a truncated file is caught here rather than by
    whoever displays it. Raises ``ValueError`` (with a clear message) for anything else.
    """
    if not data:
        raise ValueError("The image is empty.")
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as im:
            width, height = im.size
            if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
                raise ValueError(f"The image is {width}x{height}, which is too large.")
            image_format = im.format or ""
            if decode:
                im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"Not a valid PNG, JPEG or WebP image ({exc}).") from exc
    return ImageInfo(MIME_BY_FORMAT[image_format], width, height)


def load_source_image(data: bytes) -> ImageInfo:
    """Validate an img2img source image supplied by the user."""
    try:
        return inspect_image(data)
    except ValueError as exc:
        raise InvalidRequest(f"The source image is unusable: {exc}") from exc


async def source_image_info(data: bytes) -> ImageInfo:
    """:func:`load_source_image` off the event loop (a full decode can take a while)."""
    return await asyncio.to_thread(load_source_image, data)


async def request_source(request: GenerationRequest) -> tuple[bytes, str] | None:
    """The request's source image with its MIME type (checked off the event loop), or None."""
    if request.source_image is None:
        return None
    return request.source_image, (await source_image_info(request.source_image)).mime


async def check_output_image(data: bytes, provider_label: str) -> ImageInfo:
    """Validate an image a provider returned; decoding runs off the event loop."""
    try:
        return await asyncio.to_thread(inspect_image, data)
    except ValueError as exc:
        raise BadResponse(
            f"{provider_label} returned an image that cannot be read.", detail=str(exc)
        ) from exc


async def generate_one_by_one(
    request: GenerationRequest,
    progress: ProgressCallback,
    provider_label: str,
    call: Callable[[int], Awaitable[bytes]],
) -> list[GeneratedImage]:
    """For APIs that return one image per call: call once per image with seeds ``seed``,
    ``seed + 1``, ..., check each image and report one progress step per image."""
    images: list[GeneratedImage] = []
    await progress(Progress(0, request.count))
    for index in range(request.count):
        seed = request.seed + index
        data = await call(seed)
        info = await check_output_image(data, provider_label)
        images.append(GeneratedImage(data, info.mime, info.width, info.height, seed))
        await progress(Progress(index + 1, request.count))
    return images


def decode_base64(text: object, provider_label: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise BadResponse(f"{provider_label} returned an empty image.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadResponse(
            f"{provider_label} returned an image that cannot be read.", detail=str(exc)
        ) from exc


def parse_data_url(url: str, provider_label: str) -> bytes:
    """Decode ``data:image/png;base64,....``; only base64 image data URLs are accepted."""
    header, sep, payload = url.partition(",")
    if not sep or not header.startswith("data:image/") or not header.endswith(";base64"):
        raise BadResponse(
            f"{provider_label} returned an image in an unknown form.", detail=url[:80]
        )
    return decode_base64(payload.strip(), provider_label)


def to_data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def closest_size(width: int, height: int, sizes: tuple[str, ...]) -> str:
    """Pick the allowed ``WxH`` whose aspect ratio (then area) is closest to the request."""
    if not sizes:
        return f"{width}x{height}"
    wanted = math.log(width / height)

    def distance(size: str) -> tuple[float, float]:
        w, _, h = size.partition("x")
        sw, sh = int(w), int(h)
        return (abs(math.log(sw / sh) - wanted), abs(math.log((sw * sh) / (width * height))))

    return min(sizes, key=distance)


def closest_aspect_ratio(width: int, height: int, ratios: tuple[str, ...]) -> str:
    wanted = math.log(width / height)

    def distance(ratio: str) -> float:
        a, _, b = ratio.partition(":")
        return abs(math.log(int(a) / int(b)) - wanted)

    return min(ratios, key=distance)


def validate_sizes(sizes: tuple[str, ...]) -> None:
    for size in sizes:
        w, sep, h = size.partition("x")
        if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
            raise ValueError(f"Invalid size {size!r}: expected WIDTHxHEIGHT, e.g. 1024x1024.")


# --- cancel ----------------------------------------------------------------------------------


class JobTracker:
    """Runs each job's work in its own task so ``cancel(job_id)`` can stop it.

    The work runs in an inner task so that a cancel we asked for (turned into :class:`Canceled`)
    can be told apart from the caller cancelling us (re-raised as ``CancelledError``). Canceled
    ids are remembered (bounded) so a cancel that arrives before the job starts still counts.
    Jobs stopped by ``cancel_all`` (provider shutdown) fail with a retryable
    :class:`ProviderUnavailable`: the job did nothing wrong and another worker may run it.
    """

    def __init__(self, remember: int = 1024) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._canceled: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._closing = False

    def was_canceled(self, job_id: str) -> bool:
        return bool(job_id) and job_id in self._canceled

    def is_running(self, job_id: str) -> bool:
        return job_id in self._tasks

    async def run(self, job_id: str, work: Coroutine[Any, Any, T]) -> T:
        if self._closing:
            work.close()
            raise ProviderUnavailable("The image service is shutting down.")
        if self.was_canceled(job_id):
            work.close()
            raise Canceled()
        if job_id in self._tasks:
            work.close()
            raise InvalidRequest(f"Job {job_id!r} is already running on this provider.")
        task = asyncio.ensure_future(work)
        self._running.add(task)
        if job_id:
            self._tasks[job_id] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling() > 0:
                raise  # our caller is being cancelled: let it be
            if self.was_canceled(job_id):
                raise Canceled() from None
            if self._closing:
                raise ProviderUnavailable("The image service is shutting down.") from None
            raise
        finally:
            self._running.discard(task)
            if job_id and self._tasks.get(job_id) is task:
                del self._tasks[job_id]

    def cancel(self, job_id: str) -> bool:
        """Mark ``job_id`` canceled and stop its task; True if it was running here."""
        if not job_id:
            return False
        self._canceled[job_id] = None
        self._canceled.move_to_end(job_id)
        while len(self._canceled) > self._remember:
            self._canceled.popitem(last=False)
        task = self._tasks.get(job_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def cancel_and_wait(self, job_id: str, grace: float = 10.0) -> None:
        """Cancel ``job_id`` and wait (bounded) until its task, cleanup included, has ended."""
        task = self._tasks.get(job_id) if job_id else None
        if self.cancel(job_id) and task is not None:
            await asyncio.wait({task}, timeout=grace)

    async def cancel_all(self) -> None:
        self._closing = True
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- HTTP ------------------------------------------------------------------------------------


def _short(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "..."


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not, or nests too deep (a provider is
        outside the hub: ``rooms.jsontext`` keeps its replies from raising RecursionError)."""
        return jsontext.loads(self.body)


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    provider_label: str,
    *,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    **kwargs: Any,
) -> HttpResult:
    """Send a request, read at most ``max_bytes`` and turn transport failures into our errors."""
    try:
        async with client.stream(method, url, **kwargs) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise BadResponse(
                    f"{provider_label} sent a response that is too large.", detail=declared
                )
            chunks: list[bytes] = []
            total = 0
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise BadResponse(f"{provider_label} sent a response that is too large.")
                chunks.append(chunk)
            return HttpResult(response.status_code, response.headers, b"".join(chunks))
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(
            f"{provider_label} did not answer in time.", detail=repr(exc)
        ) from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(
            f"{provider_label} cannot be reached right now.", detail=repr(exc)
        ) from exc


def parse_json_object(result: HttpResult, provider_label: str) -> dict[str, Any]:
    try:
        data = result.json()
    except ValueError as exc:
        raise BadResponse(
            f"{provider_label} sent a response that is not valid JSON.",
            detail=_short(result.text),
        ) from exc
    if not isinstance(data, dict):
        raise BadResponse(
            f"{provider_label} sent an unexpected response.", detail=_short(result.text)
        )
    return data


def error_payload(result: HttpResult) -> tuple[dict[str, Any], str]:
    """Best-effort ``(error object, upstream message)`` from an error response body."""
    try:
        data = result.json()
    except ValueError:
        return {}, _short(result.text.strip())
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # Google sometimes wraps the error in a list
    if not isinstance(data, dict):
        return {}, _short(result.text.strip())
    error = data.get("error", data)
    if isinstance(error, str):
        return {"message": error}, _short(error)
    if not isinstance(error, dict):
        return {}, _short(result.text.strip())
    message = error.get("message", "")
    return error, _short(message if isinstance(message, str) else json.dumps(message))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def status_error(result: HttpResult, provider_label: str, detail: str) -> ProviderError:
    """The generic status-code mapping; providers check their own special cases first."""
    status = result.status
    if status in (401, 403):
        return AuthFailed(
            f"{provider_label} rejected the configured credentials; an administrator must "
            "check the API key.",
            detail=detail,
        )
    if status == 402:
        return NoCredit(f"The {provider_label} account has run out of credit.", detail=detail)
    if status in (408, 504):
        return ProviderTimeout(f"{provider_label} did not answer in time.", detail=detail)
    if status == 429:
        return QuotaExceeded(
            f"{provider_label} is rate limiting requests; try again shortly.",
            detail=detail,
            retry_after=retry_after_seconds(result.headers),
        )
    if status >= 500:
        return ProviderUnavailable(
            f"{provider_label} is having trouble right now (HTTP {status}).",
            detail=detail,
            retry_after=retry_after_seconds(result.headers),
        )
    if status in (400, 404, 409, 413, 415, 422):
        return RequestRejected(
            f"{provider_label} refused the request as invalid (HTTP {status}).", detail=detail
        )
    return ProviderError(
        f"{provider_label} answered with an unexpected error (HTTP {status}).",
        retryable=False,
        code=f"http_{status}",
        detail=detail,
    )


def check_http_url(url: str, what: str) -> str:
    """Normalise a configured base URL; reject anything that is not http(s)."""
    url = url.strip().rstrip("/")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{what} must be an http:// or https:// URL, got {url!r}.")
    return url


# --- remote HTTP providers -------------------------------------------------------------------


def prompt_text(prompt: str, negative: str) -> str:
    """Fold a negative prompt into the text for APIs that have no separate field for it."""
    negative = negative.strip()
    return f"{prompt.strip()}\n\nAvoid: {negative}" if negative else prompt.strip()


class HttpProvider:
    """Shared plumbing for the JSON-over-HTTP providers: one client, job tracking, cancel.

    ``transport`` lets tests (and unusual deployments) plug in any httpx transport.
    """

    name = "http"
    label = "The image service"

    def __init__(
        self,
        *,
        timeout: float,
        connect_timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("Timeouts must be positive.")
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
            follow_redirects=False,
        )
        self._jobs = JobTracker()

    async def cancel(self, job_id: str) -> None:
        # Nothing to tell these APIs: dropping the request is the only cancel they have.
        await self._jobs.cancel_and_wait(job_id)

    async def aclose(self) -> None:
        await self._jobs.cancel_all()
        await self._client.aclose()

    async def _fetch_image_url(self, url: str) -> bytes:
        """Download a result URL; our credentials are never sent to it (it is another host)."""
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https"):
            raise BadResponse(
                f"{self.label} returned an image link that cannot be fetched.", detail=url[:200]
            )
        result = await send(self._client, "GET", url, self.label)
        if result.status != 200:
            error = status_error(result, self.label, f"GET image -> {result.status}")
            if isinstance(error, ProviderUnavailable | ProviderTimeout):
                raise error
            raise BadResponse(
                f"{self.label} returned an image link that could not be downloaded.",
                detail=f"HTTP {result.status}",
            )
        return result.body


class OneByOneConfig(Protocol):
    """What :class:`OneByOneProvider` reads from its provider's config."""

    @property
    def model(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    @property
    def connect_timeout(self) -> float: ...


_Config = TypeVar("_Config", bound=OneByOneConfig)


class OneByOneProvider(HttpProvider, Generic[_Config]):
    """An :class:`HttpProvider` for APIs that make one image per call (Gemini, OpenRouter).

    ``generate`` checks the request and the model name (``model_pattern``, after removing
    ``model_prefix``), then calls :meth:`_call` once per image through
    :func:`generate_one_by_one`; a subclass makes one call.
    """

    model_pattern: ClassVar[re.Pattern[str]]
    model_prefix: ClassVar[str] = ""

    def __init__(
        self, config: _Config, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(
            timeout=config.timeout, connect_timeout=config.connect_timeout, transport=transport
        )
        self.config = config

    def _model(self, request: GenerationRequest) -> str:
        model = (request.model or self.config.model).removeprefix(self.model_prefix)
        if not self.model_pattern.match(model):
            raise InvalidRequest(f"Invalid {self.label} model name {model!r}.")
        return model

    async def _call(
        self, request: GenerationRequest, model: str, seed: int, source: tuple[bytes, str] | None
    ) -> bytes:
        """Make one image with ``seed``; ``source`` is the source image and its MIME type."""
        raise NotImplementedError

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedImage]:
        validate_request(request, max_side=4096)
        model = self._model(request)
        source = await request_source(request)

        async def call(seed: int) -> bytes:
            return await self._call(request, model, seed, source)

        return await self._jobs.run(
            request.job_id, generate_one_by_one(request, progress, self.label, call)
        )
