"""Google Gemini image generation through ``generateContent``.

One call makes one image, so ``count`` images take ``count`` calls with seeds seed, seed+1, ...
Image parts come back as ``inlineData`` (REST, camelCase) or ``inline_data`` (some proxies);
both are accepted. A blocked prompt shows up either as ``promptFeedback.blockReason`` or as a
candidate whose ``finishReason`` is ``IMAGE_SAFETY``/``SAFETY``/... and carries no image.
A 429 that names a per-day quota will not clear until tomorrow, so it is not retried.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from ._common import (
    HttpResult,
    OneByOneProvider,
    check_http_url,
    closest_aspect_ratio,
    decode_base64,
    error_payload,
    parse_json_object,
    prompt_text,
    retry_after_seconds,
    send,
    status_error,
)
from .base import (
    AuthFailed,
    BadResponse,
    GenerationFailed,
    GenerationRequest,
    ProviderError,
    QuotaExceeded,
    SafetyBlocked,
)

DEFAULT_GEMINI_MODEL = "gemini-2.5-flash-image"
DEFAULT_GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
SAFETY_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class GeminiConfig:
    api_key: str
    base_url: str = DEFAULT_GEMINI_BASE_URL
    model: str = DEFAULT_GEMINI_MODEL
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    send_seed: bool = True
    timeout: float = 180.0
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", check_http_url(self.base_url, "Gemini URL"))
        if not self.api_key:
            raise ValueError("Gemini needs an API key.")


def _daily_quota(error: dict[str, Any], message: str) -> bool:
    for item in error.get("details") or ():
        if not isinstance(item, dict):
            continue
        for violation in item.get("violations") or ():
            if (
                isinstance(violation, dict)
                and "perday" in str(violation.get("quotaId", "")).lower()
            ):
                return True
    return "per day" in message.lower()


def _retry_delay(error: dict[str, Any]) -> float | None:
    for item in error.get("details") or ():
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            delay = str(item.get("retryDelay", ""))
            try:
                return float(delay.rstrip("s"))
            except ValueError:
                return None
    return None


class GeminiProvider(OneByOneProvider[GeminiConfig]):
    name = "gemini"
    label = "Gemini"

    model_pattern = _MODEL_NAME
    model_prefix = "models/"

    async def _call(
        self,
        request: GenerationRequest,
        model: str,
        seed: int,
        source: tuple[bytes, str] | None,
    ) -> bytes:
        parts: list[dict[str, Any]] = [
            {"text": prompt_text(request.prompt, request.negative_prompt)}
        ]
        if source is not None:
            encoded = base64.b64encode(source[0]).decode("ascii")
            parts.append({"inline_data": {"mime_type": source[1], "data": encoded}})
        generation_config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
        if self.config.aspect_ratios:
            ratio = closest_aspect_ratio(request.width, request.height, self.config.aspect_ratios)
            generation_config["imageConfig"] = {"aspectRatio": ratio}
        if self.config.send_seed:
            generation_config["seed"] = seed % 2**31
        body = {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": generation_config,
        }
        result = await send(
            self._client,
            "POST",
            f"{self.config.base_url}/v1beta/models/{model}:generateContent",
            self.label,
            headers={"x-goog-api-key": self.config.api_key},
            json=body,
        )
        if result.status != 200:
            raise self._error(result)
        return self._image_from(parse_json_object(result, self.label))

    def _image_from(self, body: dict[str, Any]) -> bytes:
        feedback = body.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            raise SafetyBlocked(
                "Gemini refused this prompt under its safety rules.",
                detail=f"blockReason={feedback['blockReason']}",
            )
        candidates = body.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            raise BadResponse("Gemini returned no result.", detail=str(body)[:300])
        candidate = candidates[0]
        if not isinstance(candidate, dict):
            raise BadResponse("Gemini returned an unexpected result.")
        finish = str(candidate.get("finishReason") or "")
        content = candidate.get("content")
        raw_parts = content.get("parts") if isinstance(content, dict) else None
        parts = raw_parts if isinstance(raw_parts, list) else []
        texts: list[str] = []
        for part in parts:
            if not isinstance(part, dict):
                continue
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(inline, dict):
                mime = str(inline.get("mimeType") or inline.get("mime_type") or "")
                if mime.startswith("image/"):
                    return decode_base64(inline.get("data"), self.label)
            if isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
        if finish in SAFETY_FINISH_REASONS:
            raise SafetyBlocked(
                "Gemini refused to make this image under its safety rules.",
                detail=f"finishReason={finish}",
            )
        said = " ".join(texts).strip()
        raise GenerationFailed(
            "Gemini did not return an image for this prompt.",
            detail=f"finishReason={finish or 'none'} text={said[:300]!r}",
        )

    def _error(self, result: HttpResult) -> ProviderError:
        error, message = error_payload(result)
        status_text = str(error.get("status", ""))
        detail = f"HTTP {result.status} {status_text}: {message}".strip()
        if result.status == 429:
            if _daily_quota(error, message):
                return QuotaExceeded(
                    "Gemini's daily quota is used up; try again tomorrow.",
                    daily=True,
                    detail=detail,
                )
            delay = _retry_delay(error)
            return QuotaExceeded(
                "Gemini is rate limiting requests; try again shortly.",
                detail=detail,
                retry_after=delay if delay is not None else retry_after_seconds(result.headers),
            )
        reasons = {
            str(item.get("reason", ""))
            for item in error.get("details") or ()
            if isinstance(item, dict)
        }
        if result.status == 400 and (
            "API_KEY_INVALID" in reasons or "api key not valid" in message.lower()
        ):
            # Google answers a bad key with 400, not 401.
            return AuthFailed(
                "Gemini rejected the configured API key; an administrator must check it.",
                detail=detail,
            )
        return status_error(result, self.label, detail)
