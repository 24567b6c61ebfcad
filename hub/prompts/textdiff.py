"""Word-level diff of two texts, sensible for English and Chinese alike.

The texts are split by :func:`hub.prompts.tokens.tokens` (latin words, single CJK characters,
spaces, punctuation) and compared with :class:`difflib.SequenceMatcher` (junk detection off: in a
prompt, frequent words such as "the" or "的" are content). Runs of one kind are merged, so the
result reads as "equal / delete / insert" pieces whose ``equal`` and ``delete`` texts join to
the old text and whose ``equal`` and ``insert`` texts join to the new one.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from hub.prompts.tokens import tokens

DiffKind = Literal["equal", "delete", "insert"]


@dataclass(frozen=True)
class DiffPiece:
    op: DiffKind
    text: str


def word_diff(before: str, after: str) -> list[DiffPiece]:
    old, new = tokens(before), tokens(after)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    pieces: list[DiffPiece] = []

    def add(op: DiffKind, parts: list[str]) -> None:
        text = "".join(parts)
        if not text:
            return
        if pieces and pieces[-1].op == op:
            pieces[-1] = DiffPiece(op, pieces[-1].text + text)
        else:
            pieces.append(DiffPiece(op, text))

    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("equal", old[i1:i2])
            continue
        # A replacement reads best as the old words struck out, then the new ones.
        add("delete", old[i1:i2])
        add("insert", new[j1:j2])
    return pieces
