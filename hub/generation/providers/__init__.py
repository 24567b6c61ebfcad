"""Image generation providers: one interface, several backends. See docs/providers.md."""

from .base import (
    AuthFailed,
    BadResponse,
    Canceled,
    GeneratedImage,
    GenerationFailed,
    GenerationRequest,
    InvalidRequest,
    NoCredit,
    Progress,
    ProgressCallback,
    Provider,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExceeded,
    RequestRejected,
    SafetyBlocked,
    no_progress,
    validate_request,
)
from .comfyui import ComfyUIConfig, ComfyUIProvider
from .gemini import GeminiConfig, GeminiProvider
from .offline import OfflineConfig, OfflineProvider
from .openai_images import OpenAIImagesConfig, OpenAIImagesProvider, seedream_config
from .openrouter import OpenRouterConfig, OpenRouterProvider
from .registry import (
    ModelPreset,
    ProviderRegistry,
    ProviderSettings,
    UnknownPreset,
    build_providers,
)

__all__ = [
    "AuthFailed",
    "BadResponse",
    "Canceled",
    "ComfyUIConfig",
    "ComfyUIProvider",
    "GeminiConfig",
    "GeminiProvider",
    "GeneratedImage",
    "GenerationFailed",
    "GenerationRequest",
    "InvalidRequest",
    "ModelPreset",
    "NoCredit",
    "OfflineConfig",
    "OfflineProvider",
    "OpenAIImagesConfig",
    "OpenAIImagesProvider",
    "OpenRouterConfig",
    "OpenRouterProvider",
    "Progress",
    "ProgressCallback",
    "Provider",
    "ProviderError",
    "ProviderRegistry",
    "ProviderSettings",
    "ProviderTimeout",
    "ProviderUnavailable",
    "QuotaExceeded",
    "RequestRejected",
    "SafetyBlocked",
    "UnknownPreset",
    "build_providers",
    "no_progress",
    "seedream_config",
    "validate_request",
]
