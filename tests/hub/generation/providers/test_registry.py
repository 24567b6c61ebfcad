"""Presets and the registry built from a plain config mapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from hub.generation.providers import (
    ComfyUIProvider,
    GeminiProvider,
    GenerationRequest,
    InvalidRequest,
    ModelPreset,
    OfflineProvider,
    OpenAIImagesProvider,
    OpenRouterProvider,
    Provider,
    ProviderRegistry,
    UnknownPreset,
    no_progress,
)
from hub.generation.providers.registry import with_roles

from .support import FakeApi, b64, make_png, reply


@dataclass
class Secret:
    """Quacks like pydantic's SecretStr (the registry must not import pydantic settings)."""

    value: str

    def get_secret_value(self) -> str:
        return self.value

    def __str__(self) -> str:
        return "**********"


FULL: dict[str, Any] = {
    "offline_step_delay": 0.0,
    "comfyui_url": "http://comfy.test:8188",
    "openai_api_key": Secret("sk-1"),
    "openai_base_url": "https://api.openai.com",
    "seedream_api_key": Secret("ark-1"),
    "seedream_base_url": "https://ark.test/api",
    "gemini_api_key": Secret("g-1"),
    "openrouter_api_key": Secret("or-1"),
    "openrouter_model": "black-forest-labs/flux-image",
    "unrelated_setting": "ignored",
}


async def test_empty_config_has_only_offline_presets() -> None:
    registry = ProviderRegistry.from_config({})
    assert [p.id for p in registry.presets] == ["offline-sketch", "offline-paint", "offline-detail"]
    assert {p.provider for p in registry.presets} == {"offline"}
    preset, provider = registry.resolve("offline-paint")
    assert isinstance(provider, OfflineProvider)
    assert isinstance(provider, Provider)
    assert preset.provider_model == "paint"
    steps = {p.id: p.default_steps for p in registry.presets}
    assert steps["offline-sketch"] < steps["offline-paint"] < steps["offline-detail"]
    await registry.aclose()


async def test_settings_defaults_do_not_enable_remote_providers() -> None:
    # What Settings dumps with nothing configured: default URLs, empty secrets.
    registry = ProviderRegistry.from_config(
        {
            "comfyui_url": "",
            "openai_base_url": "https://api.openai.com",
            "openai_api_key": Secret(""),
            "seedream_base_url": "https://ark.cn-beijing.volces.com/api",
            "seedream_api_key": Secret(""),
            "gemini_api_key": Secret(""),
            "openrouter_api_key": Secret(""),
        }
    )
    assert {p.provider for p in registry.presets} == {"offline"}
    await registry.aclose()


async def test_full_config_enables_every_provider() -> None:
    registry = ProviderRegistry.from_config(FULL)
    ids = [p.id for p in registry.presets]
    assert ids[3:] == ["comfyui", "openai", "seedream", "gemini", "openrouter"]
    assert isinstance(registry.provider("comfyui"), ComfyUIProvider)
    assert isinstance(registry.provider("openai"), OpenAIImagesProvider)
    assert isinstance(registry.provider("gemini"), GeminiProvider)
    assert isinstance(registry.provider("openrouter"), OpenRouterProvider)
    seedream = registry.provider("seedream")
    assert isinstance(seedream, OpenAIImagesProvider)
    assert seedream.config.watermark is False  # watermark off by default
    assert seedream.config.api_key == "ark-1"
    assert registry.preset("openrouter").provider_model == "black-forest-labs/flux-image"
    assert all(p.cost_per_image > 0 for p in registry.presets)
    await registry.aclose()


async def test_openai_compatible_server_without_key() -> None:
    registry = ProviderRegistry.from_config({"openai_base_url": "http://localhost:8080/v1"})
    assert "openai" in [p.id for p in registry.presets]
    await registry.aclose()


async def test_seedream_request_through_the_registry_has_no_watermark() -> None:
    png = make_png(16, 16)
    api = FakeApi(reply(200, {"data": [{"b64_json": b64(png)}]}))
    registry = ProviderRegistry.from_config(
        {"seedream_api_key": "k", "seedream_base_url": "https://ark.test/api"},
        transports={"seedream": api.transport},
    )
    preset, provider = registry.resolve("seedream")
    await provider.generate(preset.request("a kite", width=1024, height=1024), no_progress)
    assert str(api.requests[0].url) == "https://ark.test/api/v3/images/generations"
    assert api.json_bodies()[0]["watermark"] is False
    await registry.aclose()


async def test_offline_preset_end_to_end() -> None:
    registry = ProviderRegistry.from_config({"offline_step_delay": 0})
    preset, provider = registry.resolve("offline-sketch")
    request = preset.request("a quiet harbour", width=128, height=96)
    assert (request.model, request.steps) == ("sketch", preset.default_steps)
    images = await provider.generate(request, no_progress)
    assert (images[0].width, images[0].height) == (128, 96)
    await registry.aclose()


def test_unknown_preset() -> None:
    registry = ProviderRegistry.from_config({})
    with pytest.raises(UnknownPreset, match="'gpt-9'"):
        registry.resolve("gpt-9")
    with pytest.raises(InvalidRequest):
        registry.preset("")


def test_preset_size_limit_and_cost() -> None:
    preset = ModelPreset("p", "Tiny", "offline", "sketch", 8, 512, cost_per_image=3)
    with pytest.raises(InvalidRequest, match="up to 512 pixels"):
        preset.request("x", width=768, height=512)
    with pytest.raises(InvalidRequest):
        preset.check(GenerationRequest("x", width=512, height=1024))
    assert preset.request("x", steps=3).steps == 3
    assert preset.cost(4) == 12


def test_roles() -> None:
    open_preset = ModelPreset("a", "A", "offline", "paint", 20, 1024)
    pro = with_roles(open_preset, "pro", "admin")
    assert open_preset.allows("user")
    assert not pro.allows("user")
    assert pro.allows("admin")
    registry = ProviderRegistry(
        {"offline": OfflineProvider()},
        [open_preset, with_roles(ModelPreset("b", "B", "offline", "detail", 40, 2048), "admin")],
    )
    assert [p.id for p in registry.presets_for_role("user")] == ["a"]
    assert [p.id for p in registry.presets_for_role("admin")] == ["a", "b"]


def test_registry_rejects_inconsistent_presets() -> None:
    offline = {"offline": OfflineProvider()}
    preset = ModelPreset("a", "A", "offline", "paint", 20, 1024)
    with pytest.raises(ValueError, match="Duplicate"):
        ProviderRegistry(offline, [preset, preset])
    with pytest.raises(ValueError, match="not set up"):
        ProviderRegistry(offline, [ModelPreset("c", "C", "comfyui", "x", 20, 1024)])


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"comfyui_url": "ftp://comfy"}, "ComfyUI URL"),
        ({"gemini_api_key": "k", "gemini_base_url": "not a url"}, "Gemini URL"),
        ({"offline_step_delay": "soon"}, "offline_step_delay must be a number"),
        ({"seedream_api_key": "k", "seedream_watermark": "maybe"}, "true or false"),
    ],
)
def test_bad_config_values_raise_clear_errors(config: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ProviderRegistry.from_config(config)
