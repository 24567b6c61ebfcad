"""The /search page: form, empty states, hits of every kind, paging, owner-only hits, bad input,
and XSS payloads in the query and in every indexed field, on both databases."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from hub.search.service import DocKind
from tests.helpers import BOTH_DATABASES
from tests.hub.accounts.helpers import signed_up
from tests.hub.search.helpers import doc, index
from tests.hub.search.xss import PAYLOADS, injected

HTML = {"accept": "text/html"}


def _links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<h2><a href="([^"]+)"', page)]


async def test_the_page_without_a_query_shows_the_form_only(client: httpx.AsyncClient) -> None:
    response = await client.get("/search", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'name="q"' in response.text
    assert '<meta name="robots" content="noindex, follow">' in response.text
    assert "Find threads, comments, works and people." in response.text
    assert 'class="search-hits"' not in response.text
    assert injected(response.text) == []


@BOTH_DATABASES
async def test_hits_link_to_their_pages_and_page_on(client: httpx.AsyncClient, ctx: Any) -> None:
    await index(
        ctx.db,
        *(doc(f"t{n}", f"Glass marble {n}", "swirls", minutes=n) for n in range(3)),
        doc("w1", "Marble bust", "carved", kind=DocKind.work, image_url="/media/x.webp"),
    )
    first = await client.get("/search", params={"q": "marble", "sort": "newest", "limit": "2"})
    assert first.status_code == 200
    assert _links(first.text) == ["/thread/t2", "/thread/t1"]
    next_link = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert next_link is not None
    second = await client.get(html.unescape(next_link.group(1)))
    # t0 and w1 share a time: the row indexed later comes first.
    assert _links(second.text) == ["/work/w1", "/thread/t0"]
    assert 'src="/media/x.webp"' in second.text
    assert 'rel="next"' not in second.text
    only_works = await client.get("/search", params={"q": "marble", "type": "work"})
    assert _links(only_works.text) == ["/work/w1"]
    assert '<option value="work" selected>' in only_works.text


@BOTH_DATABASES
async def test_nothing_found_says_so(client: httpx.AsyncClient, ctx: Any) -> None:
    await index(ctx.db, doc("1", "Glass marble"))
    response = await client.get("/search", params={"q": "橘猫"})
    assert response.status_code == 200
    assert "Nothing matches “橘猫”" in response.text
    assert _links(response.text) == []


@BOTH_DATABASES
async def test_private_hits_show_to_their_signed_in_owner_only(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await signed_up(client, "alice")
    me = (await client.get("/api/v1/me")).json()
    await index(
        ctx.db,
        doc("d1", "Draft lighthouse", kind=DocKind.work, owner_id=me["user_id"], public=False),
    )
    mine = await client.get("/search", params={"q": "lighthouse"})
    assert _links(mine.text) == ["/work/d1"]
    assert "only you" in mine.text
    client.cookies.clear()
    anonymous = await client.get("/search", params={"q": "lighthouse"})
    assert _links(anonymous.text) == []


@pytest.mark.parametrize(
    ("params", "status"),
    [({"cursor": "garbage!"}, 400), ({"q": "x", "cursor": "e30"}, 400), ({"type": "cat"}, 422)],
)
async def test_bad_input_renders_the_error_page(
    client: httpx.AsyncClient, params: dict[str, str], status: int
) -> None:
    response = await client.get("/search", params=params, headers=HTML)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")


@BOTH_DATABASES
async def test_payloads_in_the_query_are_escaped(client: httpx.AsyncClient, ctx: Any) -> None:
    await index(ctx.db, doc("1", "alert onerror script"))
    for payload in PAYLOADS:
        response = await client.get("/search", params={"q": payload[:200]}, headers=HTML)
        assert response.status_code == 200, payload
        assert injected(response.text) == [], payload


@BOTH_DATABASES
async def test_payloads_in_indexed_documents_are_escaped(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    docs = [
        doc(
            f"p{n}",
            f"xsstest {payload}",
            f"xsstest {payload}",
            category=payload[:64],
            model=payload[:64],
            minutes=n,
        )
        for n, payload in enumerate(PAYLOADS)
    ]
    # Domains store site paths; a stored link that is not one must not become a link.
    hostile = doc("url", "xsstest link", url="javascript:alert(1)", image_url='x" onerror="a()')
    await index(ctx.db, *docs, hostile)
    response = await client.get("/search", params={"q": "xsstest", "limit": "100"}, headers=HTML)
    assert response.status_code == 200
    assert len(_links(response.text)) == len(PAYLOADS) + 1
    assert injected(response.text) == []
    assert 'href="#"' in response.text
    assert "&lt;script&gt;" in response.text
