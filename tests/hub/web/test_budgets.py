"""The public pages' budgets (issue #11): each renders its first screen from the server with less
than 100 KB of JS and CSS, compressed as the hub sends them; no script blocks rendering; and no
page, style sheet or script makes a request to another site.

Measured the way a browser pays for it: every style sheet and script the page names (and the
modules those import) fetched with ``Accept-Encoding: br, gzip`` and counted in bytes on the
wire, plus the page's inline styles and scripts gzipped.
"""

from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from hub.context import HubContext
from tests.e2e.sample import fill_sample

BUDGET = 100 * 1024
ROOT = Path(__file__).resolve().parents[3]
_IMPORT = re.compile(
    r"""(?:^|[;\n])\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|import\s*["']([^"']+)["']"""
)
# Elements whose URL the browser fetches while it renders the page.
FETCHED = {
    "script": "src",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "video": "src",
    "audio": "src",
}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.styles: list[str] = []
        self.scripts: list[dict[str, str]] = []
        self.fetched: list[str] = []
        self.inline: list[str] = []
        self.head_blocking: list[str] = []
        self._in_head = False
        self._inline_tag: str | None = None
        self._inline_type = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "head":
            self._in_head = True
        if tag == "link" and "stylesheet" in found.get("rel", "").split():
            self.styles.append(found["href"])
        if tag == "link" and found.get("rel") in {"icon", "preload", "modulepreload", "manifest"}:
            self.fetched.append(found["href"])
        if tag in FETCHED and found.get(FETCHED[tag]):
            self.fetched.append(found[FETCHED[tag]])
        if tag == "script":
            self.scripts.append(found)
            blocking = not ({"defer", "async"} & found.keys()) and found.get("type") != "module"
            data = found.get("type") == "application/ld+json"
            if self._in_head and blocking and not data:
                self.head_blocking.append(found.get("src") or "inline script")
        if tag in ("style", "script") and "src" not in found:
            self._inline_tag, self._inline_type = tag, found.get("type", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self._in_head = False
        if tag == self._inline_tag:
            self._inline_tag = None

    def handle_data(self, data: str) -> None:
        if self._inline_tag and self._inline_type != "application/ld+json":
            self.inline.append(data)


async def _wire_size(client: httpx.AsyncClient, url: str) -> tuple[int, bytes]:
    """Bytes on the wire (compressed as sent) and the decoded body."""
    async with client.stream("GET", url, headers={"accept-encoding": "br, gzip"}) as answer:
        assert answer.status_code == 200, url
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
        encoding = answer.headers.get("content-encoding")
    decoded = (await client.get(url)).content
    assert encoding in {"br", "gzip"} or len(raw) < 600, f"{url} is not compressed"
    return len(raw), decoded


async def page_weight(client: httpx.AsyncClient, path: str) -> tuple[int, _Page]:
    page = await client.get(path, headers={"accept": "text/html"})
    assert page.status_code == 200, (path, page.text[:300])
    parsed = _Page()
    parsed.feed(page.text)
    queue = [*parsed.styles, *(s["src"] for s in parsed.scripts if s.get("src"))]
    seen: set[str] = set()
    total = sum(len(gzip.compress(text.encode())) for text in parsed.inline)
    while queue:
        url = urljoin(path, queue.pop())
        if url in seen:
            continue
        seen.add(url)
        size, body = await _wire_size(client, url)
        total += size
        if url.endswith((".js", ".mjs")):
            for match in _IMPORT.finditer(body.decode()):
                queue.append(urljoin(url, match.group(1) or match.group(2)))
    return total, parsed


def _foreign(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.netloc) and parts.netloc != "testserver"


async def test_public_pages_stay_within_budget_and_fetch_nothing_elsewhere(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    sample = await fill_sample(client, ctx)
    client.cookies.clear()
    pages = ["/", "/feed", sample.artwork_url, sample.thread_url, "/u/alice"]
    report = {}
    for path in pages:
        weight, parsed = await page_weight(client, path)
        report[path] = weight
        assert parsed.head_blocking == [], (path, parsed.head_blocking)
        assert [u for u in parsed.fetched + parsed.styles if _foreign(u)] == [], path
    assert all(weight < BUDGET for weight in report.values()), report
    # The measure counts something: the shell's style sheet and scripts at least.
    assert all(weight > 2_000 for weight in report.values()), report


def test_style_sheets_and_scripts_load_nothing_from_other_sites() -> None:
    offending = []
    for path in [*(ROOT / "static" / "css").glob("*.css"), *(ROOT / "static" / "js").glob("*.js")]:
        text = path.read_text("utf-8")
        if re.search(
            r"""url\(\s*['"]?(https?:)?//|@import\s+['"]?(url\()?\s*['"]?(https?:)?//""", text
        ):
            offending.append(path.name)
        if re.search(r"""(fetch|import)\(\s*['"`]https?://""", text) or re.search(
            r"""from\s+['"]https?://""", text
        ):
            offending.append(path.name)
    assert offending == []
