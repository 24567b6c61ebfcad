"""Prompt suggestions from an in-memory snapshot of the library: completions, tags and matching
templates, for English and Chinese, in well under a millisecond per thousand templates.

A :class:`Snapshot` is immutable and built off the event loop (:func:`build_snapshot`):

* every template's searchable text (title, tags, and the body with variables replaced by their
  defaults) as its normalized terms, ``" a cat in the rain 一只猫 \\n"``, all joined into one
  string in rank order (official first, then by uses and favorites). Finding templates is
  ``str.find`` over that string (C speed, no per-template Python loop for the text that does not
  match): a latin term is looked for as a word (``" cat "``) or, the one being typed, a word
  start (``" ca"``); a CJK run as a substring, so 猫 finds 一只猫. The first matches found are the
  best ranked, so a common term stops early and a rare one costs one scan;
* the vocabulary of phrases (the comma-separated pieces of public prompts, and their words) and
  of tags, sorted for prefix ranges by ``bisect``, with weights (how many public templates use
  them, plus their uses), and the best few of every one- and two-character prefix precomputed.

Templates changed since the snapshot was built are passed alongside (``overlay``) and searched
one by one; private templates are found by their author only, and never feed the vocabulary.
"""

from __future__ import annotations

import heapq
import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hub.prompts.tokens import is_cjk, last_term, normalize, normalized_terms, terms
from hub.prompts.variables import fill, variables

# Where one piece of a comma-separated prompt ends (NFKC turns full-width commas and
# semicolons into these; the ideographic full stop and comma stay as they are).
SEPARATORS = ",;|\n。、"
_SPLIT = re.compile(f"[{re.escape(SEPARATORS)}]")
MAX_PHRASE_CHARS = 60
MAX_SCAN = 20_000  # templates looked at per query at most (a pathological mix of terms)
SHORT_PREFIX = 2  # prefixes this short have their best entries precomputed
SHORT_TOP = 20
_END = chr(0x10FFFF)


@dataclass(frozen=True, slots=True)
class Entry:
    """What the index knows of one template."""

    prompt_id: int
    author_id: int
    title: str
    tags: tuple[str, ...]
    public: bool
    official: bool
    usage_count: int
    favorite_count: int
    text: str  # " term term ... \n"
    phrases: tuple[str, ...]

    @property
    def score(self) -> float:
        popularity = math.log1p(self.usage_count) + 0.5 * math.log1p(self.favorite_count)
        return (1000.0 if self.official else 0.0) + popularity

    def visible_to(self, user_id: int | None) -> bool:
        return self.public or (user_id is not None and user_id == self.author_id)


def make_entry(
    *,
    prompt_id: int,
    author_id: int,
    title: str,
    body: str,
    tags: Sequence[str],
    public: bool,
    official: bool,
    usage_count: int,
    favorite_count: int,
) -> Entry:
    try:
        defaults = {v.name: v.default for v in variables(body)}
    except ValueError:  # stored templates are valid; stay robust if one is not
        defaults = {}
    plain = normalize(fill(body, {}, defaults) if "{" in body else body)
    words = normalized_terms(normalize(" ".join([title, *tags])) + " " + plain)
    phrases = {" ".join(normalized_terms(piece)) for piece in _SPLIT.split(plain)}
    phrases.update(w for w in normalized_terms(plain) if len(w) > 1)
    phrases.discard("")
    return Entry(
        prompt_id=prompt_id,
        author_id=author_id,
        title=title,
        tags=tuple(tags),
        public=public,
        official=official,
        usage_count=usage_count,
        favorite_count=favorite_count,
        text=" " + " ".join(words) + " \n",
        phrases=tuple(sorted(p for p in phrases if len(p) <= MAX_PHRASE_CHARS)),
    )


@dataclass(frozen=True)
class Vocabulary:
    """Sorted keys with weights, for "the heaviest keys starting with this prefix"."""

    keys: list[str]
    weights: list[int]
    short: dict[str, list[int]]  # prefix of 1-2 characters -> indices of its best keys

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Vocabulary:
        keys = sorted(counts)
        weights = [counts[k] for k in keys]
        best: dict[str, list[tuple[int, int]]] = {}
        for index, key in enumerate(keys):
            for size in range(1, min(SHORT_PREFIX, len(key)) + 1):
                heap = best.setdefault(key[:size], [])
                item = (weights[index], -index)
                if len(heap) < SHORT_TOP:
                    heapq.heappush(heap, item)
                elif item > heap[0]:
                    heapq.heapreplace(heap, item)
        short = {p: [-i for _w, i in sorted(h, reverse=True)] for p, h in best.items()}
        return cls(keys=keys, weights=weights, short=short)

    def starting_with(self, prefix: str, limit: int) -> list[str]:
        if not prefix:
            return []
        if prefix in self.short:
            return [self.keys[i] for i in self.short[prefix][:limit]]
        low = bisect_left(self.keys, prefix)
        high = bisect_right(self.keys, prefix + _END, lo=low)
        best = heapq.nlargest(limit, range(low, high), key=lambda i: (self.weights[i], -i))
        return [self.keys[i] for i in best]


@dataclass(frozen=True)
class Snapshot:
    ranked: list[Entry]
    blob: str
    starts: list[int]  # where each ranked entry's text starts in blob, and len(blob) last
    phrases: Vocabulary
    tags: Vocabulary
    ids: frozenset[int] = field(default_factory=frozenset)


def build_snapshot(entries: Iterable[Entry]) -> Snapshot:
    """Rank, join and count: run it in a thread (a second or so at 100,000 templates)."""
    ranked = sorted(entries, key=lambda e: (-e.score, -e.prompt_id))
    starts: list[int] = []
    offset = 0
    for entry in ranked:
        starts.append(offset)
        offset += len(entry.text)
    starts.append(offset)
    phrase_counts: Counter[str] = Counter()
    tag_counts: Counter[str] = Counter()
    for entry in ranked:
        if entry.public:
            weight = 1 + entry.usage_count
            for phrase in entry.phrases:
                phrase_counts[phrase] += weight
            for tag in entry.tags:
                tag_counts[tag] += weight
    return Snapshot(
        ranked=ranked,
        blob="".join(e.text for e in ranked),
        starts=starts,
        phrases=Vocabulary.of(phrase_counts),
        tags=Vocabulary.of(tag_counts),
        ids=frozenset(e.prompt_id for e in ranked),
    )


EMPTY = build_snapshot([])


# --- queries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """What is typed, read once: the needles templates must contain and the fragment (the text
    after the last separator) completions extend."""

    needles: tuple[str, ...]
    fragment: str  # normalized, words single-spaced ('' after a separator or a space)
    typed_fragment: str  # as typed (what a phrase completion replaces)
    last_word: str  # normalized latin word or CJK run being typed
    typed_last_word: str  # as typed (what a word completion replaces)


def _ends_open(q: str) -> bool:
    if not q:
        return False
    last = normalize(q[-1])
    return not (q[-1].isspace() or last in SEPARATORS or last.isspace())


def parse_query(q: str) -> Query:
    found = terms(q)
    ends_open = _ends_open(q)
    needles: list[str] = []
    for index, term in enumerate(found):
        if is_cjk(term):
            needles.append(term)
        elif index == len(found) - 1 and ends_open:
            needles.append(" " + term)
        else:
            needles.append(f" {term} ")
    typed = _SPLIT.split(unicode_separators(q))[-1].lstrip()
    typed_last = last_term(q) if ends_open else ""
    return Query(
        needles=tuple(dict.fromkeys(needles)),
        fragment=" ".join(terms(typed)) if ends_open else "",
        typed_fragment=typed,
        last_word=" ".join(terms(typed_last)),
        typed_last_word=typed_last,
    )


def unicode_separators(text: str) -> str:
    """Full-width commas, semicolons and bars as their ASCII forms, character for character (so
    positions in the text stay the same)."""
    return text.translate({0xFF0C: ",", 0xFF1B: ";", 0xFF5C: "|"})


def find_templates(
    snapshot: Snapshot,
    overlay: Mapping[int, Entry | None],
    query: Query,
    *,
    user_id: int | None,
    limit: int,
) -> list[Entry]:
    """The best ranked templates ``user_id`` may see that contain every needle."""
    found = _scan(snapshot, overlay, query.needles, user_id=user_id, limit=limit)
    fresh = [
        entry
        for entry in overlay.values()
        if entry is not None
        and entry.visible_to(user_id)
        and all(n in entry.text for n in query.needles)
    ]
    if not fresh:
        return found
    return heapq.nlargest(limit, [*found, *fresh], key=lambda e: (e.score, e.prompt_id))


def _scan(
    snapshot: Snapshot,
    overlay: Mapping[int, Entry | None],
    needles: Sequence[str],
    *,
    user_id: int | None,
    limit: int,
) -> list[Entry]:
    blob, starts, ranked = snapshot.blob, snapshot.starts, snapshot.ranked
    # The most selective needle drives the scan: the longest, a CJK character counting double.
    driver = max(needles, key=_selectivity, default="\n")
    others = [n for n in needles if n != driver]
    found: list[Entry] = []
    position, scanned = 0, 0
    while len(found) < limit and scanned < MAX_SCAN:
        position = blob.find(driver, position)
        if position < 0:
            break
        index = bisect_right(starts, position) - 1
        start, end = starts[index], starts[index + 1]
        position, scanned = end, scanned + 1
        entry = ranked[index]
        if entry.prompt_id in overlay or not entry.visible_to(user_id):
            continue
        if all(blob.find(n, start, end) >= 0 for n in others):
            found.append(entry)
    return found


def _selectivity(needle: str) -> int:
    return len(needle.strip()) * (2 if is_cjk(needle) else 1)


def complete(snapshot: Snapshot, query: Query, limit: int) -> list[tuple[str, str]]:
    """(completion, what it replaces): phrases of the library that start with the fragment,
    then, for a fragment of several words, the word being typed completed alone."""
    if not query.fragment:
        return []
    results: list[tuple[str, str]] = []
    for phrase in snapshot.phrases.starting_with(query.fragment, limit + 1):
        if phrase != query.fragment:
            results.append((phrase, query.typed_fragment))
    if len(results) < limit and query.last_word and query.last_word != query.fragment:
        for word in snapshot.phrases.starting_with(query.last_word, limit):
            if word != query.last_word and " " not in word:
                results.append((word, query.typed_last_word))
    return list(dict.fromkeys(results))[:limit]


def match_tags(snapshot: Snapshot, query: Query, limit: int) -> list[str]:
    """Tags starting with the fragment or with the word being typed."""
    found: list[str] = []
    for prefix in dict.fromkeys(p for p in (query.fragment, query.last_word) if p):
        found.extend(snapshot.tags.starting_with(prefix, limit))
    return list(dict.fromkeys(found))[:limit]
