"""A corpus of real cross-site scripting payloads (from the OWASP filter evasion cheat sheet and
PayloadsAllTheThings) and a structural check of a rendered page: no script element, no event
handler attribute and no ``javascript:`` link may come out of data."""

from __future__ import annotations

from html.parser import HTMLParser

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><script>alert(document.domain)</script>',
    "'><img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "</title><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "<img src=x:alert(alt) onerror=eval(src) alt=0>",
    '<a href="javascript&colon;alert(1)">x</a>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '" onmouseover="alert(1)',
    "' autofocus onfocus='alert(1)",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "{{7*7}}{% raw %}",
    "javascript:alert(1)",
]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        # The site's own modules (the page shell's, by static URL) are not a payload's.
        ours = (
            tag == "script"
            and found.get("type") == "module"
            and (found.get("src") or "").startswith("/static/")
        )
        if tag in ("script", "iframe", "svg", "math", "object", "embed") and not ours:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}>")
            link = (value or "").strip().lower().replace("\t", "").replace("\n", "")
            if name in ("href", "src", "action", "formaction") and link.startswith("javascript"):
                self.problems.append(f"<{tag} {name}={value}>")


def injected(page: str) -> list[str]:
    """What in ``page`` could run script (empty for a safe page)."""
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser.problems
