"""The /images page: my images as a grid of squares, search, empty state and next-page link."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from tests.hub.accounts.helpers import signed_up
from tests.hub.storage.helpers import User, new_user, save_image

HTML = {"accept": "text/html"}


async def _signed_in_user(client: httpx.AsyncClient, username: str) -> User:
    await signed_up(client, username)
    me = (await client.get("/api/v1/me")).json()
    return User(int(me["user_id"]), username, {})


def _squares(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


async def test_page_redirects_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/images", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/images"


async def test_page_empty_state(client: httpx.AsyncClient) -> None:
    await _signed_in_user(client, "alice")
    response = await client.get("/images", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "No images yet — start a room and generate" in response.text
    assert 'name="q"' in response.text
    assert _squares(response.text) == []
    assert 'rel="next"' not in response.text


async def test_page_lists_my_squares_and_pages(client: httpx.AsyncClient, ctx: Any) -> None:
    bob = await new_user(client, "bob")
    await save_image(ctx, bob, prompt="bob's secret")
    alice = await _signed_in_user(client, "alice")
    views = [await save_image(ctx, alice, prompt=f"fox number {n}") for n in range(3)]
    first = await client.get("/images", params={"limit": 2}, headers=HTML)
    assert first.status_code == 200
    assert _squares(first.text) == [views[2].square_url, views[1].square_url]
    assert "bob&#39;s secret" not in first.text
    assert "No images yet" not in first.text
    next_link = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert next_link is not None
    second = await client.get(html.unescape(next_link.group(1)), headers=HTML)
    assert second.status_code == 200
    assert _squares(second.text) == [views[0].square_url]
    assert 'rel="next"' not in second.text
    assert 'href="/images"' in second.text  # back to the first page


async def test_page_search_is_escaped(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await _signed_in_user(client, "alice")
    owl = await save_image(ctx, alice, prompt='owl <script>alert("x")</script>')
    await save_image(ctx, alice, prompt="fox")
    response = await client.get("/images", params={"q": "<script>"}, headers=HTML)
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert _squares(response.text) == [owl.square_url]
    nothing = await client.get("/images", params={"q": '"><b>none'}, headers=HTML)
    assert "<b>none" not in nothing.text
    assert "No images match" in nothing.text


async def test_page_bad_query_renders_the_error_page(client: httpx.AsyncClient) -> None:
    await _signed_in_user(client, "alice")
    response = await client.get("/images", params={"limit": "zero"}, headers=HTML)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
