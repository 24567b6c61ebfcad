"""The prompt's edit timeline of a work and who is credited for it.

A room's stored history (:func:`hub.collab.history.prompt_steps`) has one step per flush of
edits; typing a sentence makes dozens. The timeline keeps a step per *burst*: consecutive steps
by the same people less than ``COALESCE_SECONDS`` apart become one entry holding the last text.
It is stored with the work (``works.prompt_history``) when the work is made and again when it is
published, so the page never replays a room, and a work keeps its story after the room is gone.

Contributors are everyone credited in at least one entry (the baseline of a truncated history
credits nobody), with the number of entries as ``edits``; the work's author is always one.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.collab.history import DocumentStep

COALESCE_SECONDS = 300
# Entries kept per work: the first (where the prompt started) and the latest ones. Each holds
# both texts, so this bounds the stored JSON to about MAX_ENTRIES * 2 prompts.
MAX_ENTRIES = 200
# ASCII words stay whole; every other character is its own token, so a Chinese edit shows the
# characters that changed rather than the whole run.
_TOKEN = re.compile(r"[A-Za-z0-9]+|\s+|.", re.DOTALL)


@dataclass(frozen=True)
class Timeline:
    entries: list[dict[str, Any]]  # JSON for works.prompt_history
    edits: dict[int, int]  # user_id -> entries credited


def _entry(step: DocumentStep) -> dict[str, Any]:
    return {
        "at": step.at.isoformat(),
        "user_ids": list(step.author_ids),
        "prompt": step.prompt,
        "negative": step.negative,
        "baseline": step.baseline,
    }


def _same_burst(previous: dict[str, Any], step: DocumentStep) -> bool:
    if previous["baseline"] or step.baseline:
        return False
    if previous["user_ids"] != list(step.author_ids):
        return False
    gap = step.at - datetime.fromisoformat(previous["at"])
    return gap.total_seconds() < COALESCE_SECONDS


def build_timeline(steps: Sequence[DocumentStep]) -> Timeline:
    entries: list[dict[str, Any]] = []
    for step in steps:
        if entries and _same_burst(entries[-1], step):
            entries[-1].update(at=step.at.isoformat(), prompt=step.prompt, negative=step.negative)
        else:
            entries.append(_entry(step))
    if len(entries) > MAX_ENTRIES:
        entries = [entries[0], *entries[-(MAX_ENTRIES - 1) :]]
    edits: Counter[int] = Counter()
    for entry in entries:
        if not entry["baseline"]:
            edits.update(entry["user_ids"])
    return Timeline(entries=entries, edits=dict(edits))


def diff_words(before: str, after: str) -> list[tuple[str, str]]:
    """``after`` against ``before`` as (op, text) runs; op is same, added or removed."""
    old, new = _TOKEN.findall(before), _TOKEN.findall(after)
    parts: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("removed", "".join(old[i1:i2])))
        if j2 > j1:
            parts.append(("added", "".join(new[j1:j2])))
    return parts


def stored_entries(raw: Any) -> list[dict[str, Any]]:
    """The timeline as stored, keeping only well-formed entries (it is JSON in a column)."""
    kept: list[dict[str, Any]] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            at = datetime.fromisoformat(str(item.get("at")))
        except ValueError:
            continue
        ids = [i for i in item.get("user_ids") or [] if isinstance(i, int)]
        kept.append(
            {
                "at": at,
                "user_ids": ids,
                "prompt": str(item.get("prompt", "")),
                "negative": str(item.get("negative", "")),
                "baseline": bool(item.get("baseline", False)),
            }
        )
    return kept
