"""/feed and /u/{username} through HTTP on both databases: content, paging, SEO tags, empty
states, bad input and XSS payloads in every field a card or a profile shows."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from hub.accounts.users import update_profile
from hub.context import HubContext
from hub.social.service import ReactionKind, follow, is_following
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import Person, person
from tests.hub.works.feed_helpers import BASE, hours, make_image, make_work, react

HTML = {"accept": "text/html"}
XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg/onload=alert(1)>",
    "</script><script>alert(1)</script>",
    "{{7*7}}{% raw %}",
    "javascript:alert(1)",
]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def assert_no_active_content(page: str) -> None:
    """No element or attribute a payload could have made: scripts other than the JSON-LD and our
    static modules, event
    handler attributes, SVG, javascript: URLs, the payload's own <img src=x>."""
    parser = _Elements()
    parser.feed(page)
    for tag, attrs in parser.found:
        assert tag != "svg"
        if tag == "script":
            # The JSON-LD, or the site's own modules (the header's bell for signed-in people).
            assert attrs == {"type": "application/ld+json"} or (
                attrs.get("type") == "module" and (attrs.get("src") or "").startswith("/static/")
            ), attrs
        if tag == "img":
            assert attrs.get("src") != "x"
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src", "action"):
                assert not (value or "").strip().lower().startswith("javascript:"), value


def jsonld(page: str) -> Any:
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert found is not None
    return json.loads(found.group(1))


def meta(page: str, attr: str, name: str) -> str:
    found = re.search(rf'<meta {attr}="{re.escape(name)}" content="([^"]*)"', page)
    assert found is not None, name
    return html.unescape(found.group(1))


def canonical(page: str) -> str:
    found = re.search(r'<link rel="canonical" href="([^"]*)"', page)
    assert found is not None
    return html.unescape(found.group(1))


def more_link(page: str) -> str | None:
    found = re.search(r'<a href="([^"]*)" rel="next">More</a>', page)
    return html.unescape(found.group(1)) if found else None


@BOTH_DATABASES
async def test_the_feed_page_lists_cards_with_its_seo_head(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada", "Ada")
    image = await make_image(ctx, ada)
    work = await make_work(ctx, ada, "Lighthouse", cover=image, category="showcase")
    response = await client.get("/feed?sort=hot", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert "<title>Hot works · Creation Hub</title>" in page
    assert f'href="/artwork/{work}/lighthouse"' in page
    assert 'href="/u/ada"' in page
    assert f"{image}-thumb.webp" in page
    assert canonical(page) == "http://testserver/feed?sort=hot"
    assert meta(page, "property", "og:title") == "Hot works"
    assert meta(page, "name", "description").startswith("What the community likes")
    assert meta(page, "property", "og:image").startswith("http://testserver/media/images/")
    assert meta(page, "name", "twitter:card") == "summary_large_image"
    data = jsonld(page)
    assert data["@type"] == "CollectionPage"
    items = data["mainEntity"]["itemListElement"]
    assert items == [
        {
            "@type": "ListItem",
            "position": 1,
            "url": f"http://testserver/artwork/{work}/lighthouse",
            "name": "Lighthouse",
        }
    ]
    # Tabs and the forum's categories (seeded by its migration).
    assert 'href="/feed?sort=latest"' in page
    assert 'href="/feed?sort=hot&amp;category=showcase"' in page
    latest = (await client.get("/feed", headers=HTML)).text
    assert canonical(latest) == "http://testserver/feed"
    assert "<title>Latest works · Creation Hub</title>" in latest
    category = (await client.get("/feed?category=showcase", headers=HTML)).text
    assert canonical(category) == "http://testserver/feed?category=showcase"
    assert "Lighthouse" in category
    other = (await client.get("/feed?category=general", headers=HTML)).text
    assert "No works published here yet" in other


@BOTH_DATABASES
async def test_the_more_link_pages_through_the_feed(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    for i in range(21):
        await make_work(ctx, ada, f"Work {i:02d}", published_at=BASE + hours(i))
    first = (await client.get("/feed", headers=HTML)).text
    assert first.count('class="work-card"') == 20
    assert "Work 20" in first
    assert "Work 00" not in first
    assert 'name="robots"' not in first
    link = more_link(first)
    assert link is not None
    assert link.startswith("/feed?cursor=")
    second = (await client.get(link, headers=HTML)).text
    assert second.count('class="work-card"') == 1
    assert "Work 00" in second
    assert more_link(second) is None
    assert '<meta name="robots" content="noindex, follow">' in second
    assert canonical(second) == "http://testserver/feed"


@BOTH_DATABASES
async def test_feed_page_states_and_bad_input(client: httpx.AsyncClient, ctx: HubContext) -> None:
    empty = await client.get("/feed", headers=HTML)
    assert empty.status_code == 200
    assert "No works published here yet" in empty.text
    assert 'href="/login?next=/feed"' in empty.text  # signed out
    following = await client.get("/feed?sort=following", headers=HTML)
    assert following.status_code == 303
    assert following.headers["location"].startswith("/login?next=/feed")
    bob = await person(ctx, "bob")
    mine = await client.get("/feed?sort=following", headers={**HTML, **bob.headers})
    assert mine.status_code == 200
    assert "Nothing yet from the people you follow" in mine.text
    assert 'href="/u/bob"' in mine.text  # signed in
    for query, status in [
        ("cursor=WyJ4Il0", 400),
        ("cursor=%3Cscript%3E", 400),
        ("sort=nope", 422),
        ("category=%3Cscript%3E", 422),
    ]:
        response = await client.get(f"/feed?{query}", headers=HTML)
        assert response.status_code == status, query
        assert response.headers["content-type"].startswith("text/html")
        assert "<script>" not in response.text


@BOTH_DATABASES
async def test_signed_in_readers_see_their_likes_on_cards(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await person(ctx, "ada"), await person(ctx, "bob")
    work = await make_work(ctx, ada, "Liked")
    await client.get("/feed", headers=HTML)  # cached for visitors
    await react(ctx, bob, work)
    await react(ctx, bob, work, ReactionKind.favorite)
    page = (await client.get("/feed", headers={**HTML, **bob.headers})).text
    assert '<span class="mine" title="Likes, yours included">♥ 1</span>' in page
    assert '<span class="mine" title="Favorites, yours included">★ 1</span>' in page
    anonymous = (await client.get("/feed", headers=HTML)).text
    assert 'class="mine"' not in anonymous
    assert "♥ 1" in anonymous


async def _xss_people(ctx: HubContext) -> tuple[Person, Person]:
    evil = await person(ctx, "evil", XSS[1])
    async with ctx.db.unit_of_work() as session:
        await update_profile(session, evil.actor, display_name=None, bio=" ".join(XSS))
    bob = await person(ctx, "bob", XSS[0])
    return evil, bob


@BOTH_DATABASES
async def test_payloads_in_titles_names_and_bios_are_escaped(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    evil, bob = await _xss_people(ctx)
    for payload in XSS:
        await make_work(ctx, evil, payload)
    async with ctx.db.unit_of_work() as session:
        await follow(session, bob.actor, "evil", True, limiter=None)
    pages = [
        (await client.get("/feed", headers=HTML)).text,
        (await client.get("/feed?sort=hot", headers={**HTML, **bob.headers})).text,
        (await client.get("/u/evil", headers=HTML)).text,
        (await client.get("/u/evil?tab=followers", headers=HTML)).text,
    ]
    for page in pages:
        for payload in XSS[:4]:
            assert payload not in page
        assert_no_active_content(page)
        assert "{{7*7}}" in page  # shown as written, never evaluated
        # The JSON-LD still parses and holds the text as it was written.
        assert jsonld(page)
    assert html.escape(XSS[0], quote=False) in pages[0]
    ld = jsonld(pages[0])
    assert {item["name"] for item in ld["mainEntity"]["itemListElement"]} == set(XSS)
    assert "<" not in re.search(r"ld\+json\">(.*?)</script>", pages[0], re.S).group(1)  # type: ignore[union-attr]
    profile = jsonld(pages[2])
    assert profile["mainEntity"]["description"] == " ".join(XSS)


@BOTH_DATABASES
async def test_the_profile_page(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada, bob = await person(ctx, "ada", "Ada Lovelace"), await person(ctx, "bob")
    image = await make_image(ctx, ada)
    works = [await make_work(ctx, ada, f"Ada {i}", published_at=BASE + hours(i)) for i in range(3)]
    await make_work(ctx, bob, "Bobs", cover=image)
    await react(ctx, ada, works[0], ReactionKind.favorite)
    async with ctx.db.unit_of_work() as session:
        await follow(session, bob.actor, "ada", True, limiter=None)
    page = (await client.get("/u/ada", headers=HTML)).text
    assert "<title>Ada Lovelace (@ada) · Creation Hub</title>" in page
    assert "3 works" in page
    assert "1 follower</a>" in page
    assert "0 following" in page
    titles = re.findall(r'class="work-title"[^>]*>([^<]*)<', page)
    assert titles == ["Ada 2", "Ada 1", "Ada 0"]
    assert canonical(page) == "http://testserver/u/ada"
    assert meta(page, "property", "og:type") == "profile"
    assert meta(page, "property", "og:image") == "http://testserver/api/v1/users/ada/avatar.svg"
    assert jsonld(page)["mainEntity"]["@type"] == "Person"
    assert "Sign in</a> to follow" in page
    favorites = (await client.get("/u/ada?tab=favorites", headers=HTML)).text
    assert "Ada 0" in favorites
    assert "Ada 1" not in favorites
    followers = (await client.get("/u/ada?tab=followers", headers=HTML)).text
    assert 'href="/u/bob"' in followers
    following = (await client.get("/u/bob?tab=following", headers=HTML)).text
    assert 'href="/u/ada"' in following
    assert "No favorites yet" in (await client.get("/u/bob?tab=favorites", headers=HTML)).text
    assert "No followers yet" in (await client.get("/u/bob?tab=followers", headers=HTML)).text
    as_bob = (await client.get("/u/ada", headers={**HTML, **bob.headers})).text
    assert '<button type="submit">Unfollow</button>' in as_bob
    as_ada = (await client.get("/u/ada", headers={**HTML, **ada.headers})).text
    assert "follow</button>" not in as_ada.lower()


@BOTH_DATABASES
async def test_profile_paging_and_bad_input(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    for i in range(3):
        await make_work(ctx, ada, f"Ada {i}", published_at=BASE + hours(i))
    first = (await client.get("/u/ada?limit=2", headers=HTML)).text
    link = more_link(first)
    assert link is not None
    assert link.startswith("/u/ada?cursor=")
    second = (await client.get(link + "&limit=2", headers=HTML)).text
    assert "Ada 0" in second
    assert "Ada 2" not in second
    for path in ("/u/nobody", "/u/%00", "/u/x"):
        unknown = await client.get(path, headers=HTML)
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("text/html")
    moved = await client.get("/u/ADA?tab=favorites", headers=HTML)
    assert moved.status_code == 301
    assert moved.headers["location"] == "/u/ada?tab=favorites"
    assert (await client.get("/u/ada?tab=secrets", headers=HTML)).status_code == 422
    assert (await client.get("/u/ada?cursor=WyJ4Il0", headers=HTML)).status_code == 400
    bad = await client.get("/u/ada?tab=followers&cursor=WyJ4Il0", headers=HTML)
    assert bad.status_code == 400


@BOTH_DATABASES
async def test_the_follow_button(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada, bob = await person(ctx, "ada"), await person(ctx, "bob")
    anonymous = await client.post("/u/ada/follow", data={"on": "1"})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/u/ada"
    followed = await client.post("/u/ada/follow", data={"on": "1"}, headers=bob.headers)
    assert followed.status_code == 303
    assert followed.headers["location"] == "/u/ada"
    async with ctx.db.unit_of_work() as session:
        assert await is_following(session, bob.user_id, ada.user_id)
    page = (await client.get("/u/ada", headers={**HTML, **bob.headers})).text
    assert "1 follower</a>" in page
    await client.post("/u/ada/follow", data={"on": "0"}, headers=bob.headers)
    async with ctx.db.unit_of_work() as session:
        assert not await is_following(session, bob.user_id, ada.user_id)
    for data, path, status in [
        ({"on": "1"}, "/u/bob/follow", 422),  # yourself
        ({"on": "1"}, "/u/nobody/follow", 404),
        ({"on": "yes"}, "/u/ada/follow", 422),
        ({}, "/u/ada/follow", 422),
    ]:
        response = await client.post(path, data=data, headers={**HTML, **bob.headers})
        assert response.status_code == status, (path, data)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_a_signed_in_browser_needs_the_csrf_token_to_follow(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    await person(ctx, "ada")
    register = await client.post(
        "/api/v1/auth/register",
        json={"email": "bob@example.test", "username": "bob", "password": "a long passphrase ok"},
    )
    assert register.status_code == 201, register.text
    refused = await client.post("/u/ada/follow", data={"on": "1"}, headers=HTML)
    assert refused.status_code == 403
    page = (await client.get("/u/ada", headers=HTML)).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    done = await client.post(
        "/u/ada/follow", data={"on": "1", "csrf_token": token.group(1)}, headers=HTML
    )
    assert done.status_code == 303
