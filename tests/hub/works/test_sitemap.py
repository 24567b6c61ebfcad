"""/sitemap.xml (an index split into files of works, threads and profiles) and /robots.txt,
through HTTP on both databases."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from hub.context import HubContext
from hub.forum.service import create_thread
from hub.settings import Settings
from tests.helpers import BOTH_DATABASES
from tests.hub.works.work_helpers import API, created, generated, veteran

NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
BASE = "http://testserver"


@pytest.fixture(autouse=True)
def small_files(settings: Settings) -> None:
    """Two ids per file, so that a handful of rows needs several files (the app reads the
    settings object at each request)."""
    settings.sitemap_chunk = 2


async def locations(client: httpx.AsyncClient, url: str) -> list[str]:
    response = await client.get(url.removeprefix(BASE))
    assert response.status_code == 200, url
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own document)
    return [loc.text or "" for loc in root.iterfind(".//s:loc", NS)]


@BOTH_DATABASES
async def test_the_sitemap_lists_every_public_page_in_small_files(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await veteran(ctx, "ada"), await veteran(ctx, "bob")
    public = [
        await created(
            client,
            ada,
            image_ids=[await generated(ctx, ada)],
            title=f"Work {i}",
            status="published",
        )
        for i in range(3)
    ]
    draft = await created(client, ada, image_ids=[await generated(ctx, ada)], title="Draft")
    gone = await created(client, ada, image_ids=[await generated(ctx, ada)], status="published")
    await client.delete(f"{API}/works/{gone['id']}", headers=ada.headers)
    async with ctx.db.unit_of_work() as session:
        extra = await create_thread(
            session, bob.actor, category="general", title="Hello", body="Hi", limiter=None
        )

    files = await locations(client, "/sitemap.xml")
    kinds = [f.removeprefix(f"{BASE}/sitemaps/").split("-")[0] for f in files]
    assert set(kinds) == {"site", "works", "threads", "profiles"}
    # A file per two ids holding a public work; the draft's and the deleted work's ids only
    # count where a public work shares their file.
    assert kinds.count("works") == len({(w["id"] - 1) // 2 for w in public})
    urls = [url for f in files for url in await locations(client, f)]
    expected_works = {f"{BASE}{w['url']}" for w in public}
    assert {u for u in urls if "/artwork/" in u} == expected_works
    assert f"{BASE}{draft['url']}" not in urls
    assert f"{BASE}{gone['url']}" not in urls
    assert f"{BASE}{extra.url}" in urls
    assert {f"{BASE}/u/ada", f"{BASE}/u/bob", f"{BASE}/", f"{BASE}/feed", f"{BASE}/forum"} <= set(
        urls
    )
    assert f"{BASE}/forum/general" in urls
    assert len(urls) == len(set(urls))


@BOTH_DATABASES
async def test_sitemap_files_that_hold_nothing_are_404(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    for path in (
        "/sitemaps/works-0.xml",
        "/sitemaps/works-99.xml",
        "/sitemaps/nope-0.xml",
        "/sitemaps/works-x.xml",
        "/sitemaps/works--1.xml",
        "/sitemaps/works-99999999999999999999.xml",
        "/sitemaps/site-1.xml",
    ):
        assert (await client.get(path)).status_code == 404, path


async def test_robots_points_at_the_sitemap_and_keeps_private_pages_out(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert lines[0] == "User-agent: *"
    assert f"Sitemap: {BASE}/sitemap.xml" in lines
    for private in ("/api/", "/r/", "/join/", "/images", "/works/new"):
        assert f"Disallow: {private}" in lines
    assert "Disallow: /artwork/" not in response.text
