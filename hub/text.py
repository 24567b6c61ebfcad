"""The rule for user-written text (names, titles, descriptions), stated once for the server and
the OpenAPI document.

Text holds no control or invisible formatting characters (Unicode categories Cc and Cf) and no
lone surrogates (Cs). Unassigned code points (Cn) are allowed, so a character newer than this
Python's Unicode tables (a new emoji) is not refused, and so are private-use characters (Co),
which a font that defines them shows (icons). :func:`pattern` gives the same rule as a JSON
Schema ``pattern`` (lone surrogates are left out of it: they are not Unicode text, so no JSON
Schema string holds one).
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
MULTILINE = "\n\t"


def refused_character(value: str, *, allow: str = "") -> str | None:
    """The first character of ``value`` the rule refuses, or None."""
    for char in value:
        if char not in allow and unicodedata.category(char) in REFUSED_CATEGORIES:
            return char
    return None


def _refused(code: int, allow: str, *, nul_only: bool) -> bool:
    if chr(code) in allow:
        return False
    if nul_only:
        return code == 0
    return unicodedata.category(chr(code)) in REFUSED_CATEGORIES - {"Cs"}


def _escape(code: int) -> str:
    # BMP characters as \uXXXX (Python re and ECMA-262 read it alike); others literally.
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


@functools.cache
def _class_body(allow: str, *, blank: bool, nul_only: bool) -> str:
    """The characters of a regex class holding what the rule refuses (and whitespace too when
    ``blank``), minus ``allow``. With ``nul_only`` the rule refuses NUL alone."""
    codes = [
        code
        for code in range(0x110000)
        if _refused(code, allow, nul_only=nul_only)
        or (blank and chr(code).isspace() and not 0xD800 <= code <= 0xDFFF)
    ]
    parts: list[str] = []
    start = previous = codes[0]
    for code in [*codes[1:], -1]:
        if code != previous + 1:
            parts.append(
                _escape(start) if start == previous else f"{_escape(start)}-{_escape(previous)}"
            )
            start = code
        previous = code
    return "".join(parts)


@functools.cache
def blank_pattern() -> str:
    """Strings of whitespace only (what ``str.strip`` empties), as a JSON Schema ``pattern``."""
    spaces = "".join(_escape(code) for code in range(0x110000) if chr(code).isspace())
    return f"^[{spaces}]*$"


def pattern(*, allow: str = "", required: bool = False, nul_only: bool = False) -> str:
    """The rule as a JSON Schema ``pattern``: no refused character except those in ``allow``,
    and with ``required`` at least one character that is not whitespace (not blank). With
    ``nul_only`` only NUL is refused (prompts: the database cannot store it)."""
    refused = _class_body(allow, blank=False, nul_only=nul_only)
    if not required:
        return f"^[^{refused}]*$"
    return f"^[^{refused}]*[^{_class_body(allow, blank=True, nul_only=nul_only)}][^{refused}]*$"


def schema_pattern(*, allow: str = "", required: bool = False, nul_only: bool = False) -> Any:
    """A ``json_schema_extra`` that adds :func:`pattern` to a field's schema when it is built."""

    def extra(schema: dict[str, Any]) -> None:
        schema["pattern"] = pattern(allow=allow, required=required, nul_only=nul_only)

    return extra
