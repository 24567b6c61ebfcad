"""URL slugs from titles: ``/t/{id}/{slug}``. The id finds the thing; the slug is for people and
search engines, so a wrong one redirects (301) to the right one instead of failing."""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG = 80
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str, *, fallback: str = "thread") -> str:
    """ASCII letters and digits of ``title`` joined by ``-``, at most :data:`MAX_SLUG`
    characters; ``fallback`` when nothing is left (a title in Chinese, say)."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > MAX_SLUG:
        slug = slug[:MAX_SLUG].rsplit("-", 1)[0] or slug[:MAX_SLUG]
    return slug.strip("-") or fallback
