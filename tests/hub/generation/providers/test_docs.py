"""docs/providers.md documents every configuration key and error code the providers use."""

from __future__ import annotations

import re
from pathlib import Path

from hub.generation.providers import ProviderError, QuotaExceeded
from hub.generation.providers.registry import CONFIG_KEYS

PAGE = Path(__file__).resolve().parents[4] / "docs" / "providers.md"


def _subclasses(cls: type[ProviderError]) -> list[type[ProviderError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_config_key_is_documented() -> None:
    page = PAGE.read_text(encoding="utf-8")
    missing = [key for key in CONFIG_KEYS if f"`HUB_{key.upper()}`" not in page]
    assert missing == []


def test_every_error_class_and_code_is_documented() -> None:
    page = PAGE.read_text(encoding="utf-8")
    missing = [
        name
        for cls in _subclasses(ProviderError)
        for name in (f"`{cls.__name__}", f"`{cls.default_code}`")
        if name not in page
    ]
    missing += [] if f"`{QuotaExceeded('x', daily=True).code}`" in page else ["daily code"]
    assert missing == []


def test_registry_reads_only_declared_keys() -> None:
    source = (PAGE.parents[1] / "hub/generation/providers/registry.py").read_text(encoding="utf-8")
    used = set(re.findall(r'_(?:text|number|flag)\(config, "([a-z_]+)"', source))
    assert used == set(CONFIG_KEYS)
