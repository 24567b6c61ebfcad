"""Request bodies built from the OpenAPI document, with a payload in every free-text field.

A field is free text when its schema is a string with no ``enum`` or ``format`` whose ``pattern``
and ``maxLength`` let the payload through: what a person may type and others may see. Fields whose
value must be something specific (an email, a model id, a user id) take a valid value from
``HINTS`` by name (or, when that name is not free text in this body, from ``IF_NOT_TEXT``); an
optional field that is neither is left out. A required field that is
neither fails the build with its name, so an endpoint added later either gets its text planted
or says what it needs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

from tests.e2e.helpers import PASSWORD

OMIT = object()
_serial = itertools.count(1)


def _fresh(prefix: str) -> Callable[[Mapping[str, object]], object]:
    return lambda params: f"{prefix}{next(_serial)}"


# Valid values by field name; a callable gets ``Site.params``.
HINTS: dict[str, object] = {
    "email": lambda params: f"planted{next(_serial)}@example.test",
    "username": _fresh("planted"),
    "password": PASSWORD,
    "new_password": PASSWORD,
    "current_password": OMIT,
    "login": "alice",
    "model": "offline-sketch",
    "kind": "text2img",
    "user_id": lambda params: params["user_id"],
    "room_id": lambda params: params["slug"],
    "image_ids": lambda params: [params["image_id"]],
    "amount": 1,
    "source_image_key": OMIT,
    "idempotency_key": OMIT,
    "min_role": None,  # the admin's model access: back to the preset's own rule
    "refresh_token": OMIT,
    "items": lambda params: [{"prompt_id": params["prompt_id"], "count": 1}],
    "target_type": lambda params: params["target_type"],
    "target_id": lambda params: params["target_id"],
    "level": "member",
    # A payload on the prompt block-list would refuse every later planted prompt (422).
    "term": _fresh("plantedterm"),
    "item": "pack-500",
    "timezone": "Asia/Shanghai",
}
# Valid values for a field of this name that is not free text: a forum category's slug, a room's
# slug. The same name as free text (a prompt template's ``category``) still gets the payload.
IF_NOT_TEXT: dict[str, object] = {
    "category": lambda params: params["category"],
    "room": lambda params: params["slug"],
    "slug": _fresh("planted"),
}


class NoBody(Exception):
    """The body cannot be built: a required field is neither free text nor hinted."""


def _string(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The string form of a property (``anyOf: [string, null]`` included), or None."""
    if schema.get("type") == "string":
        return dict(schema)
    for option in schema.get("anyOf", []):
        if option.get("type") == "string":
            return {**option, **{k: v for k, v in schema.items() if k == "pattern"}}
    return None


def takes_text(schema: Mapping[str, Any], text: str) -> bool:
    string = _string(schema)
    if string is None or "enum" in string or "format" in string or "const" in string:
        return False
    if len(text) > string.get("maxLength", 10**9) or len(text) < string.get("minLength", 0):
        return False
    try:
        return re.search(string.get("pattern", ""), text) is not None
    except re.error:  # an ECMA-only construct: let the server judge
        return True


def _valid(name: str, schema: Mapping[str, Any], params: Mapping[str, object]) -> object:
    if name in HINTS or name in IF_NOT_TEXT:
        hint = HINTS.get(name, IF_NOT_TEXT.get(name))
        return hint(params) if callable(hint) else hint
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "integer":
        return schema.get("minimum", 1)
    if schema.get("type") == "boolean":
        return False
    return OMIT


def body(
    schema: Mapping[str, Any], text: str, params: Mapping[str, object]
) -> tuple[dict[str, Any], list[str]]:
    """A body for ``schema`` and the names of the fields that carry ``text``."""
    required = set(schema.get("required", []))
    built: dict[str, Any] = {}
    planted = []
    for name, prop in schema.get("properties", {}).items():
        if name not in HINTS and takes_text(prop, text):
            built[name] = text
            planted.append(name)
            continue
        value = _valid(name, prop, params)
        if value is OMIT:
            if name in required:
                raise NoBody(f"required field {name!r}: add a value to HINTS in {__name__}")
            continue
        built[name] = value
    return built, planted
