"""The XSS payload corpus and the check that a page rendered none of it as markup.

Every payload carries a marker (``xss1`` ...) so a hit can be traced to the payload. A page is
unsafe when, parsed as a browser would, the marker turns up anywhere but in text: in a tag or
attribute name, in an event-handler attribute, in a ``javascript:`` URL, inside a ``<script>``
that is not JSON, or when a payload appears verbatim (unescaped) at all. Payloads are at most 60
characters: they must fit the shortest free-text fields (display names and token names, 64).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

PAYLOADS: tuple[str, ...] = (
    "<script>alert('xss1')</script>",
    '"><img src=x onerror=alert("xss2")>',
    "'><svg onload=alert('xss3')>",
    "javascript:alert('xss4')",
    "</textarea><script>alert('xss5')</script>",
    "</title><script>alert('xss6')</script>",
    "{{7*7}}${7*7}xss7",
    '<a href="javascript:alert(1)">xss8</a>',
    '" autofocus onfocus="alert(`xss9`)',
    "<iframe srcdoc='<b>xss10</b>'></iframe>",
    "</script><script>alert('xss11')</script>",
    "<style>*{background:url(//e.test/xss12)}</style>",
)
MARKER = re.compile(r"xss\d+")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}
# Template or expression evaluation would turn {{7*7}} or ${7*7} into 49.
EVALUATED = "49xss7"


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._script: str | None = None  # the open <script>'s type

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if MARKER.search(tag):
            self.problems.append(f"injected <{tag}>")
        for name, value in attrs:
            self._attribute(tag, name, value or "")
        if tag == "script":
            self._script = dict(attrs).get("type") or "text/javascript"

    def _attribute(self, tag: str, name: str, value: str) -> None:
        if MARKER.search(name):
            self.problems.append(f"injected attribute {name!r} on <{tag}>")
        elif name.startswith("on") and MARKER.search(value):
            self.problems.append(f"payload in <{tag} {name}>")
        elif name in URL_ATTRIBUTES and value.strip().lower().startswith("javascript:"):
            self.problems.append(f"javascript: URL in <{tag} {name}>")
        elif name in {"srcdoc", "style"} and MARKER.search(value):
            self.problems.append(f"payload in <{tag} {name}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        # JSON (tojson escapes <, > and &) may carry a payload as data; code must not.
        if self._script is not None and "json" not in self._script and MARKER.search(data):
            self.problems.append(f"payload inside a {self._script} script")


def html_problems(body: str) -> list[str]:
    """Why ``body`` (an HTML page or fragment) is unsafe; empty when it is not."""
    problems = [f"verbatim payload {p!r}" for p in PAYLOADS if _verbatim(p, body)]
    if EVALUATED in body:
        problems.append("a template expression was evaluated")
    scan = _Scan()
    scan.feed(body)
    scan.close()
    return problems + scan.problems


def _verbatim(payload: str, body: str) -> bool:
    """A payload with markup characters shows up as written: it was not escaped. A payload whose
    only markup characters are quotes is inert in text (between tags: Markdown output leaves
    ``'`` as it is) and counts inside a tag only, where it could end an attribute's value."""
    if not any(c in payload for c in "<>\"'"):
        return False
    if "<" in payload or ">" in payload:
        return payload in body
    at = body.find(payload)
    while at >= 0:
        if body.rfind("<", 0, at) > body.rfind(">", 0, at):
            return True
        at = body.find(payload, at + 1)
    return False
