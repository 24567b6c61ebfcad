"""Docs are checked by tests: a setting, error code or close code without its docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

from hub.settings import Settings
from hub.settings_doc import env_names, render

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def test_every_setting_is_documented() -> None:
    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    missing = [n for f in Settings.model_fields for n in env_names(f) if f"`{n}`" not in page]
    assert missing == [], f"add to docs/settings.md (python -m hub.settings_doc): {missing}"


def test_settings_page_is_current() -> None:
    page = (DOCS / "settings.md").read_text(encoding="utf-8")
    assert page == render(), "regenerate: python -m hub.settings_doc > docs/settings.md"


def test_every_setting_has_a_description() -> None:
    undocumented = [n for n, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []


def test_every_error_code_is_documented() -> None:
    from hub.errors import ErrorCode

    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    missing = [c.value for c in ErrorCode if f"`{c.value}`" not in page]
    assert missing == [], f"document in docs/errors.md: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    head = readme[:1500]
    assert "make run" in head
    assert "make test" in head
    assert head.index("make run") < head.index("make test")


def test_decision_records_have_the_sections() -> None:
    records = sorted((DOCS / "decisions").glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert records, "docs/decisions/ has no ADRs"
    for record in records:
        text = record.read_text(encoding="utf-8")
        for section in ("Status", "Context", "Decision", "Consequences", "Alternatives"):
            assert section in text, f"{record.name} lacks {section}"


def test_readme_settings_table_agrees_with_the_settings_page() -> None:
    """The README's short table gives the same defaults as docs/settings.md (which is generated
    from Settings): "*(empty…)*" where the default is empty, else the same value."""
    from hub.settings_doc import _default

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    by_env = {n: f for f in Settings.model_fields for n in env_names(f)}
    rows = re.findall(r"^\| `([A-Z0-9_]+)`(?: …)? \| ([^|]+) \|", readme, re.MULTILINE)
    assert len(rows) >= 5, "the README's settings table moved; update this test"
    wrong = []
    for name, shown in rows:
        if name not in by_env:
            wrong.append(f"{name}: not a setting")
            continue
        default = _default(by_env[name])
        if default.startswith("*(empty)"):
            ok = shown.startswith("*(empty")
        else:
            value = default.strip("`*()").lower()
            ok = value in shown.strip().strip("`*()").removeprefix("./").lower()
        if not ok:
            wrong.append(f"{name}: README says {shown.strip()}, docs/settings.md {default}")
    assert wrong == []
