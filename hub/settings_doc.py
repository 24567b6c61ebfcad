"""Render docs/settings.md from the Settings class.

Run ``python -m hub.settings_doc > docs/settings.md``.

``tests/test_docs.py`` fails when a setting is missing from that page, so the page cannot drift.
"""

from __future__ import annotations

import sys

from pydantic import AliasChoices, SecretStr

from hub.settings import Settings


def env_names(name: str) -> list[str]:
    field = Settings.model_fields[name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"HUB_{name.upper()}"]


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if isinstance(value, SecretStr):
        return "*(secret; empty)*" if not value.get_secret_value() else "*(dev-only value)*"
    if value == "" or value == []:
        return "*(empty)*"
    return f"`{value}`"


def render() -> str:
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable. Conventional names (`DATABASE_URL`,",
        "`REDIS_URL`, `HOST`, `PORT`) are used as they are; the rest carry the `HUB_` prefix.",
        "The defaults are the embedded mode: SQLite in `./var`, the in-process bus, local media,",
        "the offline image engine.",
        "Generated from `hub/settings.py` by `python -m hub.settings_doc > docs/settings.md`.",
        "",
        "In code, `create_app(settings)` hands one `Settings` to the context (`ctx.settings`, for",
        "routes, pages and components) and to `Database`, whose unit of work carries it: services",
        "read it with `hub.db.settings_of(session)` and never take a `settings` parameter.",
        "",
        "| Variable | Default | Description |",
        "| --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        names = " / ".join(f"`{n}`" for n in env_names(name))
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| {names} | {_default(name)} | {description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
