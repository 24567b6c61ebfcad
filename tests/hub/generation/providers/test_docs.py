"""docs/providers.md documents every setting and error code the providers use."""

from __future__ import annotations

import re
from pathlib import Path

from hub.generation.providers import ProviderError, QuotaExceeded
from hub.generation.providers.registry import SETTING_NAMES
from hub.settings import Settings

PAGE = Path(__file__).resolve().parents[4] / "docs" / "providers.md"


def _subclasses(cls: type[ProviderError]) -> list[type[ProviderError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_setting_is_documented() -> None:
    page = PAGE.read_text(encoding="utf-8")
    missing = [name for name in SETTING_NAMES if f"`HUB_{name.upper()}`" not in page]
    assert missing == []


def test_the_page_names_only_real_settings() -> None:
    page = PAGE.read_text(encoding="utf-8")
    named = {name.lower() for name in re.findall(r"`HUB_([A-Z0-9_]+)", page)}
    assert named - set(Settings.model_fields) == set()


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
