"""Template variables: ``{subject}`` to fill in, ``{style=watercolor}`` with a default.

A name is a letter (any script, so ``{主体}`` works) or ``_``, then up to 31 letters, digits or
``_``. A default is any text without braces, up to :data:`MAX_DEFAULT_CHARS` characters. ``{{``
and ``}}`` stand for literal braces; any other brace is literal too (``{ not a name }``), so
text pasted from elsewhere never fails to parse. One name may appear many times; where it has a
default, every default it has must be the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_NAME_CHARS = 32
MAX_DEFAULT_CHARS = 200
MAX_VARIABLES = 32
NAME_PATTERN = rf"[^\W\d]\w{{0,{MAX_NAME_CHARS - 1}}}"
_PIECE = re.compile(
    rf"\{{\{{|\}}\}}|\{{(?P<name>{NAME_PATTERN})(?:=(?P<default>[^{{}}]{{0,{MAX_DEFAULT_CHARS}}}))?\}}"
)


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None


@dataclass(frozen=True)
class Segment:
    """A piece of a template: literal ``text``, or a variable (``name`` set; ``text`` is how it
    is written, e.g. ``{style=ink}``)."""

    text: str
    name: str | None = None
    default: str | None = None


class VariableError(ValueError):
    """The template's variables contradict each other (two defaults for one name, too many)."""


def segments(template: str) -> list[Segment]:
    """``template`` as literal text and variables, in order (for showing it with the variables
    marked)."""
    found: list[Segment] = []
    literal: list[str] = []
    position = 0
    for match in _PIECE.finditer(template):
        literal.append(template[position : match.start()])
        position = match.end()
        piece = match.group(0)
        if match.group("name") is None:
            literal.append(piece[0])  # "{{" -> "{", "}}" -> "}"
            continue
        if literal:
            found.append(Segment("".join(literal)))
            literal = []
        found.append(Segment(piece, match.group("name"), match.group("default")))
    literal.append(template[position:])
    if "".join(literal):
        found.append(Segment("".join(literal)))
    return [s for s in found if s.text]


def variables(*templates: str) -> list[Variable]:
    """The variables of ``templates`` in order of first appearance, each with its default.
    Raises :class:`VariableError` for a name with two different defaults or too many names."""
    defaults: dict[str, str | None] = {}
    for template in templates:
        for segment in segments(template):
            if segment.name is None:
                continue
            known = defaults.get(segment.name)
            if segment.default is not None and known is not None and known != segment.default:
                raise VariableError(
                    f"{{{segment.name}}} has two defaults: {known!r} and {segment.default!r}"
                )
            if known is None:
                defaults[segment.name] = segment.default
    if len(defaults) > MAX_VARIABLES:
        raise VariableError(f"a template has at most {MAX_VARIABLES} variables")
    return [Variable(name, default) for name, default in defaults.items()]


def missing(found: Iterable[Variable], values: Mapping[str, str]) -> list[str]:
    """Names that have neither a value nor a default, in template order."""
    return [v.name for v in found if v.name not in values and v.default is None]


def fill(template: str, values: Mapping[str, str], defaults: Mapping[str, str | None]) -> str:
    """``template`` with every variable replaced by its value, else its default (the caller
    checked :func:`missing` first), and ``{{``/``}}`` by single braces. Values are inserted as
    they are: a value holding ``{x}`` is not filled again."""
    parts: list[str] = []
    for segment in segments(template):
        if segment.name is None:
            parts.append(segment.text)
            continue
        value = values.get(segment.name)
        if value is None:
            value = segment.default if segment.default is not None else defaults.get(segment.name)
        parts.append(value or "")
    return "".join(parts)
