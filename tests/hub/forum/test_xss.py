"""A corpus of XSS payloads through every field the forum shows (titles, Markdown bodies,
comments, category names), checked on the rendered pages with an HTML parser: no element,
attribute or URL that could run script gets through; the text is escaped or sanitized."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import httpx
import pytest

from hub.db import Database
from hub.forum.markdown import render_markdown
from tests.helpers import BOTH_DATABASES
from tests.hub.forum.helpers import API, member, post_comment, post_thread

# Classic filter-evasion payloads (after the OWASP XSS cheat sheet), plus Markdown-specific ones:
# links and images with script URLs, autolinks, reference links and HTML blocks.
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "<img src=x onerror=alert(1)//",
    "<svg/onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    '<a href="javascript:alert(1)">x</a>',
    "<body onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<base href=javascript:alert(1)//>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<!--<img src=--><img src=x onerror=alert(1)//>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "</script><script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    '![x](x" onerror="alert(1))',
    '[x](https://example.com "title" onmouseover=alert(1))',
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "```\n</code><script>alert(1)</script>\n```",
    "`<script>alert(1)</script>`",
    "{{ 7*7 }} {% raw %}",
    "@<script>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
]

# What the forum's templates and the Markdown allow-list can produce.
PAGE_TAGS = {
    "html", "head", "meta", "title", "link", "script", "body", "header", "nav", "main", "h1",
    "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "span", "strong", "em", "time", "div",
    "form", "input", "button", "details", "summary", "label", "textarea", "section", "article",
    "a", "img", "br", "hr", "code", "pre", "blockquote", "s", "small", "table", "thead", "tbody",
    "tr", "th", "td", "select", "option",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction"}
URL_METAS = {"og:url", "og:image", "twitter:image"}
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")


class Inspector(HTMLParser):
    """Collects what could run script: unknown tags, event handler and style attributes,
    script URLs, and scripts other than JSON-LD."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.jsonld: list[str] = []
        self._in_jsonld = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in PAGE_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc"):
                self.problems.append(f"<{tag} {name}>")
            url = "".join((value or "").split()).lower()
            if name in URL_ATTRIBUTES and url.startswith(BAD_SCHEMES):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "meta":
            self._meta(dict(attrs))
        if tag == "script":
            kind = dict(attrs).get("type")
            # The site's own modules (the shell's, by hashed static URL) are not a payload's.
            ours = kind == "module" and (dict(attrs).get("src") or "").startswith("/static/")
            if kind != "application/ld+json" and not ours:
                self.problems.append(f"<script type={kind!r}>")
            self._in_jsonld = True

    def _meta(self, attrs: dict[str, str | None]) -> None:
        """No refresh or other http-equiv; the URLs a crawler follows have no script scheme."""
        if "http-equiv" in attrs:
            self.problems.append(f"<meta http-equiv={attrs['http-equiv']!r}>")
        key = attrs.get("property") or attrs.get("name")
        url = "".join((attrs.get("content") or "").split()).lower()
        if key in URL_METAS and url.startswith(BAD_SCHEMES):
            self.problems.append(f"<meta {key} content={url!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_jsonld = False

    def handle_data(self, data: str) -> None:
        if self._in_jsonld:
            self.jsonld.append(data)


def inspect(page: str) -> Inspector:
    inspector = Inspector()
    inspector.feed(page)
    inspector.close()
    for block in inspector.jsonld:
        try:
            json.loads(block)  # a payload that broke out of the JSON-LD would not parse
        except ValueError:
            inspector.problems.append(f"a script that is not JSON: {block[:80]!r}")
    return inspector


@pytest.mark.parametrize(
    "unsafe",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href=" JavaScript:alert(1)">x</a>',
        "<iframe src=/x></iframe>",
        '<p style="x">y</p>',
        '<meta http-equiv="refresh" content="0;url=/x">',
        '<meta property="og:image" content="javascript:alert(1)">',
    ],
)
def test_the_inspector_sees_what_runs(unsafe: str) -> None:
    """The check below can fail: each of these is reported."""
    assert inspect(unsafe).problems != []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_render_markdown_leaves_nothing_that_runs(payload: str) -> None:
    assert inspect(str(render_markdown(payload))).problems == []


@BOTH_DATABASES
async def test_payloads_are_inert_on_every_page(client: httpx.AsyncClient, db: Database) -> None:
    ada, bob = await member(db, "ada"), await member(db, "bob")
    admin = await member(db, "boss", role="admin")
    category = {"slug": "xss", "name": PAYLOADS[1][:80], "description": PAYLOADS[2]}
    made = await client.post(f"{API}/admin/categories", json=category, headers=admin.headers)
    assert made.status_code == 201
    urls = ["/forum", "/forum/xss", "/forum/general"]
    for i, payload in enumerate(PAYLOADS):
        title = payload.replace("\n", " ").replace("\t", " ")[:200]
        created = await post_thread(
            client, ada, title=title, body=payload, category="xss" if i % 2 else "general"
        )
        assert created.status_code == 201, (payload, created.text)
        thread_id = created.json()["thread_id"]
        comment = await post_comment(client, bob, thread_id, payload)
        assert comment.status_code == 201
        await post_comment(client, ada, thread_id, payload, parent_id=comment.json()["comment_id"])
        urls.append(created.json()["url"])
    for url in urls:
        response = await client.get(url, headers={"accept": "text/html"})
        assert response.status_code == 200, url
        assert inspect(response.text).problems == [], url
        assert "<script>alert(1)" not in response.text
    thread = (await client.get(f"{API}/threads/{urls[3].split('/')[2]}")).json()
    assert thread["title"] == PAYLOADS[0]  # stored as written, escaped when shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (await client.get(urls[3])).text
