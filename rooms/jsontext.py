"""JSON text from clients, parsed with a nesting limit.

``json.loads`` recurses once per nesting level, so ``"[" * 1000 + "]" * 1000`` raises
``RecursionError`` (not a ``ValueError``): a handler that catches decode errors lets it through,
and the request becomes a 500 with a logged traceback. :func:`loads` measures the nesting before
parsing and raises :class:`JSONTooDeep`, a ``ValueError``, so every caller that already refuses
invalid JSON refuses this too. Every JSON body of the HTTP API (``hub.api.parse_body``), every
event-stream message and every awareness state goes through it, and so does JSON the hub reads
from outside: generation providers' and identity providers' replies, PNG text chunks.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

# Far deeper than any message or body the hub accepts (a few levels), far below the interpreter's
# recursion limit.
MAX_JSON_DEPTH = 64

# A complete JSON string literal; possessive, so an unterminated one costs linear time.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONTooDeep(ValueError):
    """The text nests arrays/objects deeper than the limit."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON is nested more than {max_depth} levels deep")
        self.max_depth = max_depth


def nesting_depth(text: str) -> int:
    """The deepest array/object nesting of ``text`` (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def check_depth(text: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    # Cheap pre-check in C: fewer openers than the limit cannot nest past it.
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise JSONTooDeep(max_depth)


def loads(text: str | bytes, max_depth: int = MAX_JSON_DEPTH, **options: Any) -> Any:
    """``json.loads`` for client text. Raises ``ValueError`` for anything that is not JSON (bytes
    that are not UTF-8 included) and :class:`JSONTooDeep` past ``max_depth`` levels. ``options``
    go to ``json.loads`` (``parse_float``, ...)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    check_depth(text, max_depth)
    return json.loads(text, **options)
