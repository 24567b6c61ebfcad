"""Model presets and the registry that builds providers from the hub's settings.

A *preset* is what a user picks ("Offline paint", "Seedream"); it names a provider, the model
string that provider gets, default steps, a size cap, who may use it and what it costs. The
registry is built from ``Settings`` through the typed :class:`ProviderSettings` protocol, so
this package imports nothing from the rest of the hub and still reads only real, typed
settings (never a mapping looked up by string, where a missing key passes silently). Offline
presets are always there; a remote one appears only when its URL or key is configured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import httpx

from .base import GenerationRequest, InvalidRequest, Provider
from .comfyui import ComfyUIConfig, ComfyUIProvider
from .gemini import DEFAULT_GEMINI_BASE_URL, DEFAULT_GEMINI_MODEL, GeminiConfig, GeminiProvider
from .offline import OfflineConfig, OfflineProvider
from .openai_images import (
    DEFAULT_OPENAI_BASE_URL,
    DEFAULT_OPENAI_MODEL,
    DEFAULT_SEEDREAM_BASE_URL,
    DEFAULT_SEEDREAM_MODEL,
    OpenAIImagesConfig,
    OpenAIImagesProvider,
    api_root,
    seedream_config,
)
from .openrouter import (
    DEFAULT_OPENROUTER_BASE_URL,
    DEFAULT_OPENROUTER_MODEL,
    OpenRouterConfig,
    OpenRouterProvider,
)


class UnknownPreset(InvalidRequest):
    """The requested preset does not exist or is not enabled on this server."""


@dataclass(frozen=True)
class ModelPreset:
    id: str
    label: str
    provider: str  # a provider name in the registry
    provider_model: str  # becomes GenerationRequest.model
    default_steps: int
    max_size: int  # longest side, pixels
    roles_allowed: frozenset[str] = frozenset()  # empty: every role
    cost_per_image: int = 1

    def allows(self, role: str) -> bool:
        return not self.roles_allowed or role in self.roles_allowed

    def check(self, request: GenerationRequest) -> None:
        if max(request.width, request.height) > self.max_size:
            raise InvalidRequest(
                f"{self.label} makes images up to {self.max_size} pixels per side."
            )

    def request(self, prompt: str, **fields: Any) -> GenerationRequest:
        """A request for this preset: its model and default steps unless given."""
        fields.setdefault("steps", self.default_steps)
        request = GenerationRequest(prompt=prompt, model=self.provider_model, **fields)
        self.check(request)
        return request

    def cost(self, count: int) -> int:
        return self.cost_per_image * count


class ProviderRegistry:
    def __init__(self, providers: Mapping[str, Provider], presets: Iterable[ModelPreset]) -> None:
        self._providers = dict(providers)
        self._presets: dict[str, ModelPreset] = {}
        for preset in presets:
            if preset.id in self._presets:
                raise ValueError(f"Duplicate model preset id {preset.id!r}.")
            if preset.provider not in self._providers:
                raise ValueError(
                    f"Preset {preset.id!r} uses provider {preset.provider!r}, which is not set up."
                )
            self._presets[preset.id] = preset

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> ProviderRegistry:
        """The registry the hub runs with: the offline presets, and each remote provider whose
        URL or key ``settings`` (the hub's ``Settings``) configures."""
        providers, presets = build_providers(settings, transports=transports)
        return cls(providers, presets)

    @property
    def presets(self) -> tuple[ModelPreset, ...]:
        return tuple(self._presets.values())

    def presets_for_role(self, role: str) -> tuple[ModelPreset, ...]:
        return tuple(p for p in self._presets.values() if p.allows(role))

    def preset(self, preset_id: str) -> ModelPreset:
        try:
            return self._presets[preset_id]
        except KeyError:
            raise UnknownPreset(f"Unknown model preset {preset_id!r}.") from None

    def provider(self, name: str) -> Provider:
        return self._providers[name]

    def resolve(self, preset_id: str) -> tuple[ModelPreset, Provider]:
        preset = self.preset(preset_id)
        return preset, self._providers[preset.provider]

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


OFFLINE_PRESETS = (
    ModelPreset("offline-sketch", "Offline sketch", "offline", "sketch", 8, 1024, cost_per_image=1),
    ModelPreset("offline-paint", "Offline paint", "offline", "paint", 20, 1536, cost_per_image=1),
    ModelPreset(
        "offline-detail", "Offline detail", "offline", "detail", 40, 2048, cost_per_image=2
    ),
)


class Secret(Protocol):
    """What the registry needs of a secret (pydantic's ``SecretStr`` is one)."""

    def get_secret_value(self) -> str: ...


class ProviderSettings(Protocol):
    """Every setting the registry reads, each the ``Settings`` field of the same name
    (``HUB_<NAME>`` in the environment, docs/settings.md).

    ``hub.settings.Settings`` is the one implementation: mypy checks each call of
    :meth:`ProviderRegistry.from_settings` against this list, and a setting missing from
    ``Settings`` is an ``AttributeError`` at startup, never a silently ignored default.
    """

    @property
    def offline_step_delay(self) -> float: ...
    @property
    def offline_preview_size(self) -> int: ...
    @property
    def comfyui_url(self) -> str: ...
    @property
    def comfyui_checkpoint(self) -> str: ...
    @property
    def openai_base_url(self) -> str: ...
    @property
    def openai_api_key(self) -> Secret: ...
    @property
    def openai_model(self) -> str: ...
    @property
    def seedream_base_url(self) -> str: ...
    @property
    def seedream_api_key(self) -> Secret: ...
    @property
    def seedream_model(self) -> str: ...
    @property
    def seedream_watermark(self) -> bool: ...
    @property
    def gemini_base_url(self) -> str: ...
    @property
    def gemini_api_key(self) -> Secret: ...
    @property
    def gemini_model(self) -> str: ...
    @property
    def openrouter_base_url(self) -> str: ...
    @property
    def openrouter_api_key(self) -> Secret: ...
    @property
    def openrouter_model(self) -> str: ...


# The names of ProviderSettings' members, in order (docs/providers.md lists each).
SETTING_NAMES = tuple(
    name for name, value in vars(ProviderSettings).items() if isinstance(value, property)
)


def _text(value: str | Secret, default: str = "") -> str:
    """A string setting, stripped; empty means ``default``."""
    text = value if isinstance(value, str) else value.get_secret_value()
    return text.strip() or default


Transports = Mapping[str, httpx.AsyncBaseTransport]
# A configured remote provider: how to create it (after every config validated) and its preset.
_Configured = tuple[Callable[[], Provider], ModelPreset]


def _comfyui(settings: ProviderSettings, transports: Transports) -> _Configured | None:
    comfyui_url = _text(settings.comfyui_url)
    if not comfyui_url:
        return None
    comfyui = ComfyUIConfig(
        base_url=comfyui_url,
        checkpoint=_text(settings.comfyui_checkpoint, ComfyUIConfig.checkpoint),
    )
    return (
        lambda: ComfyUIProvider(comfyui, transport=transports.get("comfyui")),
        ModelPreset(
            "comfyui", "ComfyUI", "comfyui", comfyui.checkpoint, 25, 2048, cost_per_image=4
        ),
    )


def _openai(settings: ProviderSettings, transports: Transports) -> _Configured | None:
    openai_key = _text(settings.openai_api_key)
    openai_url = _text(settings.openai_base_url, DEFAULT_OPENAI_BASE_URL)
    # A key enables OpenAI; so does a non-default URL (a local compatible server needs no key).
    if not openai_key and api_root(openai_url, "") == DEFAULT_OPENAI_BASE_URL:
        return None
    openai = OpenAIImagesConfig(
        api_key=openai_key,
        base_url=openai_url,
        model=_text(settings.openai_model, DEFAULT_OPENAI_MODEL),
    )
    label = f"OpenAI {openai.model}"
    return (
        lambda: OpenAIImagesProvider(openai, transport=transports.get("openai")),
        ModelPreset("openai", label, "openai", openai.model, 1, 1792, cost_per_image=10),
    )


def _seedream(settings: ProviderSettings, transports: Transports) -> _Configured | None:
    seedream_key = _text(settings.seedream_api_key)
    if not seedream_key:
        return None
    seedream = seedream_config(
        seedream_key,
        base_url=_text(settings.seedream_base_url, DEFAULT_SEEDREAM_BASE_URL),
        model=_text(settings.seedream_model, DEFAULT_SEEDREAM_MODEL),
        watermark=settings.seedream_watermark,
    )
    return (
        lambda: OpenAIImagesProvider(seedream, transport=transports.get("seedream")),
        ModelPreset("seedream", "Seedream", "seedream", seedream.model, 1, 4096, cost_per_image=6),
    )


def _gemini(settings: ProviderSettings, transports: Transports) -> _Configured | None:
    gemini_key = _text(settings.gemini_api_key)
    if not gemini_key:
        return None
    gemini = GeminiConfig(
        api_key=gemini_key,
        base_url=_text(settings.gemini_base_url, DEFAULT_GEMINI_BASE_URL),
        model=_text(settings.gemini_model, DEFAULT_GEMINI_MODEL),
    )
    return (
        lambda: GeminiProvider(gemini, transport=transports.get("gemini")),
        ModelPreset("gemini", "Gemini", "gemini", gemini.model, 1, 2048, cost_per_image=8),
    )


def _openrouter(settings: ProviderSettings, transports: Transports) -> _Configured | None:
    openrouter_key = _text(settings.openrouter_api_key)
    if not openrouter_key:
        return None
    openrouter = OpenRouterConfig(
        api_key=openrouter_key,
        base_url=_text(settings.openrouter_base_url, DEFAULT_OPENROUTER_BASE_URL),
        model=_text(settings.openrouter_model, DEFAULT_OPENROUTER_MODEL),
    )
    label = f"OpenRouter {openrouter.model}"
    return (
        lambda: OpenRouterProvider(openrouter, transport=transports.get("openrouter")),
        ModelPreset("openrouter", label, "openrouter", openrouter.model, 1, 2048, cost_per_image=8),
    )


# The remote providers in preset order; each is enabled by its settings.
_REMOTE: tuple[Callable[[ProviderSettings, Transports], _Configured | None], ...] = (
    _comfyui,
    _openai,
    _seedream,
    _gemini,
    _openrouter,
)


def build_providers(
    settings: ProviderSettings,
    *,
    transports: Transports | None = None,
) -> tuple[dict[str, Provider], list[ModelPreset]]:
    """Providers and presets for ``settings`` (see :class:`ProviderSettings`).

    Every config is validated before any provider (and its HTTP client) is created, so a bad
    value raises ``ValueError`` without leaving clients behind.
    """
    transports = transports or {}
    offline = OfflineConfig(
        step_delay=settings.offline_step_delay, preview_size=settings.offline_preview_size
    )
    factories: dict[str, Callable[[], Provider]] = {"offline": lambda: OfflineProvider(offline)}
    presets = list(OFFLINE_PRESETS)
    for configure in _REMOTE:
        configured = configure(settings, transports)
        if configured is not None:
            factory, preset = configured
            factories[preset.provider] = factory
            presets.append(preset)
    return {name: factory() for name, factory in factories.items()}, presets


def with_roles(preset: ModelPreset, *roles: str) -> ModelPreset:
    """A copy of ``preset`` limited to ``roles`` (for deployments that restrict costly models)."""
    return replace(preset, roles_allowed=frozenset(roles))
