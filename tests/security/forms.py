"""The forms of an HTML page, as a browser would submit them."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

Form = tuple[str, str, dict[str, str], list[str]]  # method, action, fields, typed field names


class _Forms(HTMLParser):
    """The forms of a page that submit somewhere (an ``action``), with their fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._select: str | None = None  # the open <select>: its first or selected option wins

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and "action" in found:
            self.forms.append((found.get("method", "get").upper(), found["action"], {}, []))
        elif tag in {"input", "textarea"} and self.forms and "name" in found:
            _, _, fields, typed = self.forms[-1]
            fields[found["name"]] = found.get("value", "")
            if found.get("type", "text") not in {"submit", "checkbox", "radio", "file"}:
                typed.append(found["name"])
        elif tag == "select" and self.forms and "name" in found:
            self._select = found["name"]
        elif tag == "option" and self.forms and self._select is not None:
            fields = self.forms[-1][2]
            if self._select not in fields or "selected" in found:
                fields[self._select] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms(html: str) -> Iterator[Form]:
    parser = _Forms()
    parser.feed(html)
    yield from parser.forms
