"""User Markdown to safe HTML: CommonMark by markdown-it-py with raw HTML off, then nh3 (the
Rust ammonia sanitizer) with an allow-list of exactly the tags that Markdown makes (ADR 0014).

Two layers on purpose. With ``html`` off, markdown-it escapes any tag typed in the text, and its
link validator drops ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` URLs; nh3 then keeps
only the allow-listed tags, attributes and URL schemes, so a bug or an option turned on later in
the Markdown layer still cannot let a script, an event handler or a style through.

``@username`` becomes a link to the profile (``/u/username``); every other domain that shows user
Markdown (works' descriptions, comments) imports :func:`render_markdown` from here.
"""

from __future__ import annotations

import functools
import html
import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markupsafe import Markup

# What CommonMark (plus tables and strikethrough) produces; nothing else survives.
TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li",
        "pre", "code", "em", "strong", "s", "a", "img", "table", "thead", "tbody", "tr", "th",
        "td",
    }
)  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# User links earn the site no reputation (ugc, nofollow) and get no handle on this page.
LINK_REL = "nofollow ugc noopener noreferrer"

# The username rule of hub.accounts (3-32 letters, digits or underscores), after a character
# that does not make the "@" part of a word, an e-mail address or a path: the same mentions that
# hub.notifications tells (its MENTION_RE).
_MENTION = re.compile(r"@([A-Za-z0-9_]{3,32})(?![A-Za-z0-9_])")
_NOT_BEFORE = re.compile(r"[A-Za-z0-9_@./+-]")

# Rendering is pure; a thread page shows the same bodies again and again.
_CACHE_SIZE = 2048


def _mention_rule(state: StateInline, silent: bool) -> bool:
    """``@name`` (see ``_NOT_BEFORE``), outside links."""
    if state.src[state.pos] != "@" or state.linkLevel > 0:
        return False
    if state.pos > 0 and _NOT_BEFORE.match(state.src[state.pos - 1]):
        return False
    match = _MENTION.match(state.src, state.pos)
    if match is None:
        return False
    if not silent:
        name = match.group(1)
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": f"/u/{name}", "class": "mention"}
        text = state.push("text", "", 0)
        text.content = match.group(0)
        state.push("link_close", "a", -1)
    state.pos = match.end()
    return True


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.inline.ruler.before("link", "mention", _mention_rule)
    return md


_MD = _parser()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _render(text: str) -> str:
    rendered = _MD.render(text)
    return nh3.clean(
        rendered,
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        allowed_classes={"a": {"mention"}},
        strip_comments=True,
    )


def render_markdown(text: str) -> Markup:
    """``text`` (Markdown) as sanitized HTML, safe to put in a template as it is."""
    return Markup(_render(text))  # noqa: S704 (sanitized by nh3 above)


def plain_text(text: str, *, limit: int = 200) -> str:
    """The words of a Markdown text without markup, cut to ``limit`` characters: for page
    descriptions and notification previews."""
    words = " ".join(nh3.clean(_render(text), tags=set()).split())
    words = html.unescape(words)
    if len(words) <= limit:
        return words
    return words[: limit - 1].rstrip() + "…"
