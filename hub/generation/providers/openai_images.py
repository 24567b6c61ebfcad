"""OpenAI-compatible images API: ``/images/generations`` and ``/images/edits``.

Also drives Volcengine Ark Seedream, which speaks the same shape under ``/api/v3`` but takes the
img2img source inline (``image`` as a data URL), accepts a ``seed``, and adds a visible
watermark unless asked not to (``watermark: false``, which our config sends by default).

The API does not stream, so progress is reported as 0/N before the call and N/N after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from ._common import (
    HttpProvider,
    HttpResult,
    check_http_url,
    check_output_image,
    closest_size,
    decode_base64,
    error_payload,
    parse_json_object,
    prompt_text,
    send,
    source_image_info,
    status_error,
    to_data_url,
    validate_sizes,
)
from .base import (
    BadResponse,
    GeneratedImage,
    GenerationRequest,
    NoCredit,
    Progress,
    ProgressCallback,
    ProviderError,
    SafetyBlocked,
    validate_request,
)

DEFAULT_OPENAI_MODEL = "gpt-image-1"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com"
DEFAULT_SEEDREAM_MODEL = "doubao-seedream-4-0-250828"
DEFAULT_SEEDREAM_BASE_URL = "https://ark.cn-beijing.volces.com"

# Sizes each OpenAI model accepts; anything else is answered with HTTP 400.
_MODEL_SIZES: dict[str, tuple[str, ...]] = {
    "gpt-image": ("1024x1024", "1536x1024", "1024x1536"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
}
_SAFETY_CODES = ("content_policy_violation", "moderation_blocked", "content_filter")
_NO_CREDIT_CODES = ("insufficient_quota", "billing_hard_limit_reached", "accountoverdue")


@dataclass(frozen=True)
class OpenAIImagesConfig:
    api_key: str = ""
    base_url: str = DEFAULT_OPENAI_BASE_URL
    model: str = DEFAULT_OPENAI_MODEL
    # API path prefix; see api_root() for how it joins base_url.
    path_prefix: str = "/v1"
    name: str = "openai"
    label: str = "OpenAI"
    # None: do not send the field; False: ask for no watermark (Seedream adds one otherwise).
    watermark: bool | None = None
    # Allowed WIDTHxHEIGHT values; the closest aspect ratio is chosen. () = per model default,
    # or pass the requested size through when the model is unknown.
    sizes: tuple[str, ...] = ()
    # None: b64_json, except for gpt-image models, which always answer base64 and reject the field.
    response_format: str | None = None
    img2img: Literal["edits", "inline"] = "edits"
    send_seed: bool = False
    max_images_per_call: int = 10
    timeout: float = 180.0
    connect_timeout: float = 10.0
    extra_body: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", check_http_url(self.base_url, f"{self.label} URL"))
        validate_sizes(self.sizes)
        if not 1 <= self.max_images_per_call <= 10:
            raise ValueError("max_images_per_call must be between 1 and 10.")
        if self.img2img not in ("edits", "inline"):
            raise ValueError("img2img must be 'edits' or 'inline'.")


def seedream_config(
    api_key: str,
    *,
    base_url: str = DEFAULT_SEEDREAM_BASE_URL,
    model: str = DEFAULT_SEEDREAM_MODEL,
    watermark: bool = False,
    **overrides: Any,
) -> OpenAIImagesConfig:
    """The Volcengine Ark Seedream flavour of the OpenAI images API."""
    settings: dict[str, Any] = {
        "api_key": api_key,
        "base_url": base_url,
        "model": model,
        "path_prefix": "/api/v3",
        "name": "seedream",
        "label": "Seedream",
        "watermark": watermark,
        "response_format": "b64_json",
        "img2img": "inline",
        "send_seed": True,
        "max_images_per_call": 1,
    }
    settings.update(overrides)
    return OpenAIImagesConfig(**settings)


def api_root(base_url: str, prefix: str) -> str:
    """Join base URL and API prefix without doubling what the base already contains.

    ``https://api.openai.com`` + ``/v1`` and ``https://api.openai.com/v1`` + ``/v1`` both give
    ``.../v1``; ``https://ark.cn-beijing.volces.com/api`` + ``/api/v3`` gives ``.../api/v3``.
    """
    base = base_url.rstrip("/")
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    path = httpx.URL(base).path.rstrip("/")
    if not prefix or path.endswith(prefix):
        return base
    if path and prefix.startswith(path + "/"):
        return base + prefix[len(path) :]
    return base + prefix


def _model_sizes(model: str) -> tuple[str, ...]:
    for prefix, sizes in _MODEL_SIZES.items():
        if model.startswith(prefix):
            return sizes
    return ()


class OpenAIImagesProvider(HttpProvider):
    def __init__(
        self, config: OpenAIImagesConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(
            timeout=config.timeout, connect_timeout=config.connect_timeout, transport=transport
        )
        self.config = config
        self.name = config.name
        self.label = config.label
        self._api = api_root(config.base_url, config.path_prefix)

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedImage]:
        validate_request(request, max_side=4096)
        source = None
        if request.source_image is not None:
            source = (request.source_image, (await source_image_info(request.source_image)).mime)
        return await self._jobs.run(request.job_id, self._generate(request, source, progress))

    async def _generate(
        self,
        request: GenerationRequest,
        source: tuple[bytes, str] | None,
        progress: ProgressCallback,
    ) -> list[GeneratedImage]:
        model = request.model or self.config.model
        sizes = self.config.sizes or _model_sizes(model)
        size = closest_size(request.width, request.height, sizes)
        images: list[GeneratedImage] = []
        await progress(Progress(0, request.count))
        while len(images) < request.count:
            n = min(self.config.max_images_per_call, request.count - len(images))
            results = await self._call(request, model, size, n, request.seed + len(images), source)
            for data in results[: request.count - len(images)]:
                info = await check_output_image(data, self.label)
                # Seeds follow the request (seed, seed+1, ...) even when one call made several.
                seed = request.seed + len(images)
                images.append(GeneratedImage(data, info.mime, info.width, info.height, seed))
            await progress(Progress(len(images), request.count))
        return images

    async def _call(
        self,
        request: GenerationRequest,
        model: str,
        size: str,
        n: int,
        seed: int,
        source: tuple[bytes, str] | None,
    ) -> list[bytes]:
        cfg = self.config
        fields = self._fields(request, model, size, n, seed)
        headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        if source is not None and cfg.img2img == "edits":
            data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
            data.update({k: str(v) for k, v in cfg.extra_body.items()})
            result = await send(
                self._client,
                "POST",
                f"{self._api}/images/edits",
                self.label,
                headers=headers,
                data=data,
                files={"image": (f"source.{source[1].split('/')[1]}", source[0], source[1])},
            )
        else:
            if source is not None:
                fields["image"] = to_data_url(source[0], source[1])
            fields.update(cfg.extra_body)
            result = await send(
                self._client,
                "POST",
                f"{self._api}/images/generations",
                self.label,
                headers=headers,
                json=fields,
            )
        return await self._images(result)

    def _fields(
        self, request: GenerationRequest, model: str, size: str, n: int, seed: int
    ) -> dict[str, Any]:
        """The request body's fields shared by generations and edits."""
        cfg = self.config
        fields: dict[str, Any] = {
            "model": model,
            "prompt": prompt_text(request.prompt, request.negative_prompt),
            "size": size,
        }
        if cfg.max_images_per_call > 1 or n > 1:
            fields["n"] = n
        response_format = cfg.response_format
        if response_format is None and not model.startswith("gpt-image"):
            response_format = "b64_json"
        if response_format:
            fields["response_format"] = response_format
        if cfg.send_seed:
            fields["seed"] = seed % 2**31  # Seedream takes a 32-bit signed seed
        if cfg.watermark is not None:
            fields["watermark"] = cfg.watermark
        return fields

    async def _images(self, result: HttpResult) -> list[bytes]:
        """The image bytes of an answer (inline base64 or fetched URLs), or its error."""
        if result.status != 200:
            raise self._error(result)
        body = parse_json_object(result, self.label)
        if isinstance(body.get("error"), dict):
            raise self._error_from(body["error"], result, str(body["error"].get("message", "")))
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise BadResponse(f"{self.label} returned no image.", detail=str(body)[:300])
        out: list[bytes] = []
        for item in items:
            if not isinstance(item, dict):
                raise BadResponse(f"{self.label} returned an unexpected result.")
            if isinstance(item.get("error"), dict):
                raise self._error_from(item["error"], result, str(item["error"].get("message", "")))
            if item.get("b64_json"):
                out.append(decode_base64(item["b64_json"], self.label))
            elif isinstance(item.get("url"), str) and item["url"]:
                out.append(await self._fetch_image_url(item["url"]))
            else:
                raise BadResponse(f"{self.label} returned a result without an image.")
        return out

    def _error(self, result: HttpResult) -> ProviderError:
        error, message = error_payload(result)
        return self._error_from(error, result, message)

    def _error_from(
        self, error: Mapping[str, Any], result: HttpResult, message: str
    ) -> ProviderError:
        code = str(error.get("code") or "").lower()
        kind = str(error.get("type") or "").lower()
        detail = f"HTTP {result.status} {code or kind}: {message}".strip()
        lowered = message.lower()
        if (
            any(c in code for c in _SAFETY_CODES)
            or "sensitivecontent" in code
            or "safety system" in lowered
            or (kind == "image_generation_user_error" and "safety" in lowered)
        ):
            return SafetyBlocked(
                f"{self.label} refused this prompt or image under its content policy.",
                detail=detail,
            )
        if any(c in code or c in kind for c in _NO_CREDIT_CODES):
            return NoCredit(f"The {self.label} account has run out of credit.", detail=detail)
        if result.status == 200:
            return BadResponse(f"{self.label} reported an error: {message[:200]}", detail=detail)
        return status_error(result, self.label, detail)
