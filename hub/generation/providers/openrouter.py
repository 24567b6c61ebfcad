"""OpenRouter image generation through chat completions with ``modalities: ["image", "text"]``.

Images come back in ``choices[0].message.images[].image_url.url``, normally as base64 data URLs.
402 means the account has no credit: final, not retried. A prompt flagged by moderation is
answered with 403 and ``error.metadata.reasons``; a model's own refusal ends the choice with
``finish_reason: "content_filter"``. Errors can also arrive inside a 200 body (``error``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ._common import (
    HttpResult,
    OneByOneProvider,
    check_http_url,
    closest_aspect_ratio,
    error_payload,
    parse_data_url,
    parse_json_object,
    prompt_text,
    send,
    status_error,
    to_data_url,
)
from .base import (
    BadResponse,
    GenerationFailed,
    GenerationRequest,
    NoCredit,
    ProviderError,
    SafetyBlocked,
)

DEFAULT_OPENROUTER_MODEL = "google/gemini-2.5-flash-image"
DEFAULT_OPENROUTER_BASE_URL = "https://openrouter.ai"
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


@dataclass(frozen=True)
class OpenRouterConfig:
    api_key: str
    base_url: str = DEFAULT_OPENROUTER_BASE_URL
    model: str = DEFAULT_OPENROUTER_MODEL
    # Optional app attribution headers (HTTP-Referer, X-Title) OpenRouter shows in its rankings.
    app_url: str = ""
    app_title: str = ""
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    send_seed: bool = True
    timeout: float = 180.0
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", check_http_url(self.base_url, "OpenRouter URL"))
        if not self.api_key:
            raise ValueError("OpenRouter needs an API key.")


class OpenRouterProvider(OneByOneProvider[OpenRouterConfig]):
    name = "openrouter"
    label = "OpenRouter"

    model_pattern = _MODEL_NAME

    async def _call(
        self,
        request: GenerationRequest,
        model: str,
        seed: int,
        source: tuple[bytes, str] | None,
    ) -> bytes:
        content: list[dict[str, Any]] = [
            {"type": "text", "text": prompt_text(request.prompt, request.negative_prompt)}
        ]
        if source is not None:
            content.append({"type": "image_url", "image_url": {"url": to_data_url(*source)}})
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": content}],
            "modalities": ["image", "text"],
        }
        if self.config.aspect_ratios:
            ratio = closest_aspect_ratio(request.width, request.height, self.config.aspect_ratios)
            body["image_config"] = {"aspect_ratio": ratio}
        if self.config.send_seed:
            body["seed"] = seed % 2**31
        headers = {"Authorization": f"Bearer {self.config.api_key}"}
        if self.config.app_url:
            headers["HTTP-Referer"] = self.config.app_url
        if self.config.app_title:
            headers["X-Title"] = self.config.app_title
        result = await send(
            self._client,
            "POST",
            f"{self.config.base_url}/api/v1/chat/completions",
            self.label,
            headers=headers,
            json=body,
        )
        if result.status != 200:
            raise self._error(result)
        return await self._image_from(result, parse_json_object(result, self.label))

    async def _image_from(self, result: HttpResult, body: dict[str, Any]) -> bytes:
        if isinstance(body.get("error"), dict):
            raise self._error_from(body["error"], result)
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise BadResponse("OpenRouter returned no result.", detail=str(body)[:300])
        choice = choices[0]
        if isinstance(choice.get("error"), dict):
            raise self._error_from(choice["error"], result)
        message = choice.get("message")
        images = message.get("images") if isinstance(message, dict) else None
        if isinstance(images, list):
            for image in images:
                url = image.get("image_url", {}).get("url") if isinstance(image, dict) else None
                if isinstance(url, str) and url.startswith("data:"):
                    return parse_data_url(url, self.label)
                if isinstance(url, str) and url:
                    return await self._fetch_image_url(url)
        finish = str(choice.get("finish_reason") or choice.get("native_finish_reason") or "")
        if finish.lower() in ("content_filter", "image_safety", "safety", "prohibited_content"):
            raise SafetyBlocked(
                "The model refused to make this image under its safety rules.",
                detail=f"finish_reason={finish}",
            )
        text = message.get("content") if isinstance(message, dict) else None
        raise GenerationFailed(
            "OpenRouter's model did not return an image for this prompt.",
            detail=f"finish_reason={finish or 'none'} text={str(text or '')[:300]!r}",
        )

    def _error(self, result: HttpResult) -> ProviderError:
        error, _message = error_payload(result)
        return self._error_from(error, result)

    def _error_from(self, error: dict[str, Any], result: HttpResult) -> ProviderError:
        message = str(error.get("message", ""))[:500]
        metadata = error.get("metadata") if isinstance(error.get("metadata"), dict) else {}
        code = error.get("code")
        status = code if isinstance(code, int) else result.status
        detail = f"HTTP {result.status} code={code}: {message}"
        if status == 402:
            return NoCredit("The OpenRouter account has run out of credit.", detail=detail)
        if status == 403 and metadata and ("reasons" in metadata or "flagged_input" in metadata):
            return SafetyBlocked(
                "This prompt was flagged by moderation and was not sent to the model.",
                detail=f"{detail} reasons={metadata.get('reasons')}",
            )
        if status >= 400:
            # A 200 can carry an error whose code is the real status (e.g. 502 from upstream).
            return status_error(HttpResult(status, result.headers, result.body), self.label, detail)
        return BadResponse(f"OpenRouter reported an error: {message[:200]}", detail=detail)
