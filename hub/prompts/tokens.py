"""How prompt text splits into words, for the version diff and the suggestion index.

Latin scripts split into words; Chinese, Japanese and Korean have no spaces between words, so
each of their characters is a token of its own ("一只猫" is three tokens, "a cat" two words and a
space). Joining the tokens gives the text back unchanged.
"""

from __future__ import annotations

import re
import unicodedata

# Han (with extension A and compatibility ideographs), kana, bopomofo and Hangul syllables.
CJK_RANGES = "\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK = re.compile(f"[{CJK_RANGES}]")
# One CJK character | a run of other word characters | a run of spaces | one other character.
_TOKEN = re.compile(f"[{CJK_RANGES}]|[^\\W{CJK_RANGES}]+|\\s+|[^\\w\\s]|_")
# What suggestion matching looks for: latin words and CJK runs, nothing else.
_TERM = re.compile(f"[{CJK_RANGES}]+|[^\\W{CJK_RANGES}]+")


def tokens(text: str) -> list[str]:
    """``text`` split for a word-level diff; ``"".join(tokens(text)) == text``."""
    return _TOKEN.findall(text)


def normalize(text: str) -> str:
    """The form text is compared in: NFKC (full-width letters and punctuation become the usual
    ones) and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def is_cjk(term: str) -> bool:
    return bool(_CJK.match(term))


def terms(text: str) -> list[str]:
    """Normalized latin words and CJK runs of ``text``, in order ("一只猫 in rain" gives
    ``["一只猫", "in", "rain"]``)."""
    return normalized_terms(normalize(text))


def normalized_terms(text: str) -> list[str]:
    """:func:`terms` of text that is normalized already."""
    return _TERM.findall(text)


_LAST_TERM = re.compile(f"(?:[{CJK_RANGES}]+|[^\\W{CJK_RANGES}]+)$")


def last_term(text: str) -> str:
    """The latin word or CJK run ``text`` ends with, as written ('' if it ends otherwise)."""
    match = _LAST_TERM.search(text)
    return match.group(0) if match else ""
