"""Presets and the registry, built from real ``Settings`` (never a plain mapping)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError

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
from hub.generation.providers.registry import SETTING_NAMES, with_roles
from hub.settings import Settings

from .fake_comfyui import FakeComfyUI, serve
from .support import FakeApi, Recorder, b64, decode, make_png, reply

FULL: dict[str, Any] = {
    "offline_step_delay": 0.0,
    "comfyui_url": "http://comfy.test:8188",
    "openai_api_key": "sk-1",
    "openai_base_url": "https://api.openai.com",
    "seedream_api_key": "ark-1",
    "seedream_base_url": "https://ark.test/api",
    "gemini_api_key": "g-1",
    "openrouter_api_key": "or-1",
    "openrouter_model": "black-forest-labs/flux-image",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HUB_* variable of the machine running the tests leaks into these Settings."""
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)


def registry_for(**values: Any) -> ProviderRegistry:
    return ProviderRegistry.from_settings(Settings(**values))


async def test_default_settings_have_only_offline_presets() -> None:
    registry = ProviderRegistry.from_settings(Settings())
    assert [p.id for p in registry.presets] == ["offline-sketch", "offline-paint", "offline-detail"]
    assert {p.provider for p in registry.presets} == {"offline"}
    preset, provider = registry.resolve("offline-paint")
    assert isinstance(provider, OfflineProvider)
    assert isinstance(provider, Provider)
    assert preset.provider_model == "paint"
    steps = {p.id: p.default_steps for p in registry.presets}
    assert steps["offline-sketch"] < steps["offline-paint"] < steps["offline-detail"]
    await registry.aclose()


async def test_full_settings_enable_every_provider() -> None:
    registry = registry_for(**FULL)
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
    assert registry.preset("comfyui").provider_model == "v1-5-pruned-emaonly.safetensors"
    assert all(p.cost_per_image > 0 for p in registry.presets)
    await registry.aclose()


async def test_openai_compatible_server_without_key() -> None:
    registry = registry_for(openai_base_url="http://localhost:8080/v1")
    assert "openai" in [p.id for p in registry.presets]
    await registry.aclose()


async def test_seedream_request_through_the_registry_has_no_watermark() -> None:
    png = make_png(16, 16)
    api = FakeApi(reply(200, {"data": [{"b64_json": b64(png)}]}))
    registry = ProviderRegistry.from_settings(
        Settings(seedream_api_key="k", seedream_base_url="https://ark.test/api"),
        transports={"seedream": api.transport},
    )
    preset, provider = registry.resolve("seedream")
    await provider.generate(preset.request("a kite", width=1024, height=1024), no_progress)
    assert str(api.requests[0].url) == "https://ark.test/api/v3/images/generations"
    assert api.json_bodies()[0]["watermark"] is False
    await registry.aclose()


async def test_every_provider_setting_arrives_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each setting a provider reads, set as the operator sets it, changes what the provider
    does. (These four once were read by the registry but were no Settings fields, so they
    never arrived.)"""
    async with serve(FakeComfyUI(checkpoints=("foo.safetensors",))) as fake:
        for name, value in {
            "HUB_OFFLINE_STEP_DELAY": "0",
            "HUB_OFFLINE_PREVIEW_SIZE": "24",
            "HUB_COMFYUI_URL": fake.url,
            "HUB_COMFYUI_CHECKPOINT": "foo.safetensors",
            "HUB_SEEDREAM_API_KEY": "ark-key",
            "HUB_SEEDREAM_BASE_URL": "https://ark.test/api",
            "HUB_SEEDREAM_MODEL": "doubao-seedream-9-9",
            "HUB_SEEDREAM_WATERMARK": "true",
        }.items():
            monkeypatch.setenv(name, value)
        api = FakeApi(reply(200, {"data": [{"b64_json": b64(make_png(16, 16))}]}))
        registry = ProviderRegistry.from_settings(
            Settings(), transports={"seedream": api.transport}
        )
        try:
            preset, provider = registry.resolve("comfyui")
            assert preset.provider_model == "foo.safetensors"
            await provider.generate(
                preset.request("a barn", steps=2, width=64, height=64), no_progress
            )
            (posted,) = fake.called("POST", "/prompt")
            assert posted["prompt"]["4"]["inputs"]["ckpt_name"] == "foo.safetensors"

            preset, provider = registry.resolve("seedream")
            assert preset.provider_model == "doubao-seedream-9-9"
            await provider.generate(preset.request("a kite", width=1024, height=1024), no_progress)
            body = api.json_bodies()[0]
            assert (body["model"], body["watermark"]) == ("doubao-seedream-9-9", True)

            preset, provider = registry.resolve("offline-sketch")
            recorder = Recorder()
            await provider.generate(
                preset.request("a pond", steps=2, width=256, height=128), recorder
            )
            assert {decode(p).size for p in recorder.previews} == {(24, 12)}
        finally:
            await registry.aclose()


class ReadRecorder:
    """Settings that remember which attributes were read."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.read: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.read.add(name)
        return getattr(self._settings, name)


async def test_the_registry_reads_only_settings_fields() -> None:
    recorder = ReadRecorder(Settings(**FULL))
    registry = ProviderRegistry.from_settings(recorder)  # type: ignore[arg-type]
    await registry.aclose()
    assert recorder.read <= set(Settings.model_fields), recorder.read - set(Settings.model_fields)
    assert recorder.read == set(SETTING_NAMES)
    assert set(SETTING_NAMES) <= set(Settings.model_fields)


def test_a_plain_mapping_is_refused() -> None:
    # A dict of settings would let a misspelt or missing key pass as "not configured".
    with pytest.raises(AttributeError, match="offline_step_delay"):
        ProviderRegistry.from_settings({"comfyui_checkpoint": "foo.safetensors"})  # type: ignore[arg-type]


def test_unknown_preset() -> None:
    registry = ProviderRegistry.from_settings(Settings())
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
    ("values", "words"),
    [
        ({"comfyui_url": "ftp://comfy"}, "ComfyUI URL"),
        ({"gemini_api_key": "k", "gemini_base_url": "not a url"}, "Gemini URL"),
    ],
)
def test_bad_provider_urls_raise_clear_errors(values: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        registry_for(**values)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HUB_OFFLINE_STEP_DELAY", "soon"),
        ("HUB_OFFLINE_STEP_DELAY", "-1"),
        ("HUB_OFFLINE_PREVIEW_SIZE", "4"),
        ("HUB_SEEDREAM_WATERMARK", "maybe"),
    ],
)
def test_bad_provider_settings_are_refused_at_startup(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("HUB_").lower()):
        Settings()
