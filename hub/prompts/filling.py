"""Filling a template's variables, and "apply a template's style" to a prompt.

The filled prompt and negative prompt are what a room or a job receives, so they obey the job
limit (:data:`hub.generation.schemas.MAX_PROMPT_CHARS`): a filling that makes them longer is a
422, like a variable left without a value or a value for a variable the template does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.errors import ValidationFailed
from hub.generation.schemas import MAX_PROMPT_CHARS
from hub.prompts.models import PromptTemplate
from hub.prompts.schemas import ApplyOut
from hub.prompts.variables import Variable, fill, missing, variables

# The variable "apply a style" puts the current prompt into, when the template has it.
SUBJECT_NAMES = ("subject", "主体", "主题")


@dataclass(frozen=True)
class Filled:
    prompt: str
    negative_prompt: str
    params: dict[str, Any]


def _refuse(message: str, field: str, kind: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(
        message, fields=[{"field": field, "message": message, "type": kind}], **details
    )


def _check_names(found: list[Variable], values: Mapping[str, str], field: str) -> None:
    names = {v.name for v in found}
    unknown = [name for name in values if name not in names]
    if unknown:
        raise _refuse(
            f"The template has no variable {', '.join(unknown)}.",
            field,
            "unknown_variable",
            unknown=unknown,
        )
    absent = missing(found, values)
    if absent:
        raise _refuse(
            f"Fill in the template's variables: {', '.join(absent)}.",
            field,
            "missing_variable",
            missing=absent,
        )


def _check_length(prompt: str, negative: str) -> None:
    for name, value in (("body", prompt), ("negative_prompt", negative)):
        if len(value) > MAX_PROMPT_CHARS:
            raise _refuse(
                f"Filled in, the template's {name.replace('_', ' ')} has {len(value)} "
                f"characters; the limit is {MAX_PROMPT_CHARS}.",
                name,
                "prompt_too_long",
                limit=MAX_PROMPT_CHARS,
            )


def fill_template(
    row: PromptTemplate, values: Mapping[str, str], *, field: str = "variables"
) -> Filled:
    """The template with ``values`` filled in (defaults for the rest). ``field`` names the
    request field a refusal blames (``items.2.variables`` in a batch)."""
    found = variables(row.body, row.negative_prompt)
    _check_names(found, values, field)
    defaults = {v.name: v.default for v in found}
    prompt = fill(row.body, values, defaults)
    negative = fill(row.negative_prompt, values, defaults)
    _check_length(prompt, negative)
    return Filled(prompt=prompt, negative_prompt=negative, params=dict(row.params or {}))


def subject_of(found: list[Variable]) -> str | None:
    """Which variable takes the current prompt: ``subject`` (or 主体 / 主题) if the template has
    one, else its first variable without a default, else its first variable."""
    names = [v.name for v in found]
    for name in SUBJECT_NAMES:
        if name in names:
            return name
    no_default = [v.name for v in found if v.default is None]
    candidates = no_default or names
    return candidates[0] if candidates else None


def apply_style(row: PromptTemplate, prompt: str, values: Mapping[str, str]) -> ApplyOut:
    """``prompt`` wrapped in the template: it becomes the template's subject variable, the other
    variables take ``values`` or their defaults. A template without variables is appended."""
    found = variables(row.body, row.negative_prompt)
    subject = subject_of(found)
    current = prompt.strip()
    if subject is None:
        joined = f"{current}, {row.body}" if current else row.body
        _check_length(joined, row.negative_prompt)
        return ApplyOut(prompt=joined, negative_prompt=row.negative_prompt)
    filled = fill_template(row, {**values, subject: current})
    return ApplyOut(prompt=filled.prompt, negative_prompt=filled.negative_prompt)
