"""The library pages: the list with its filters, a template with its versions and "use in a
room", the version diff; what people type is escaped everywhere."""

from __future__ import annotations

import httpx
import pytest

from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.prompts.helpers import create_prompt, person

XSS = '<script>alert("x")</script>'
ATTR = '"><img src=x onerror=alert(1)>'


@BOTH_DATABASES
async def test_pages_show_the_library_a_template_and_a_diff(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(
        client, alice, title="Heron", body="a {subject=heron} at dawn", tags=["birds"]
    )
    await client.patch(
        f"/api/v1/prompts/{prompt_id}", json={"body": "a {subject=heron} at dusk"}, headers=alice
    )
    library = await client.get("/prompts")
    assert library.status_code == 200
    assert "Heron" in library.text
    assert 'href="/prompts/1"' in library.text
    assert 'rel="canonical" href="http://testserver/prompts"' in library.text
    filtered = await client.get("/prompts?tag=fish")
    assert "Heron" not in filtered.text
    page = await client.get(f"/prompts/{prompt_id}")
    assert page.status_code == 200
    assert '<mark class="variable" title="variable subject">{subject=heron}</mark>' in page.text
    assert 'data-version="2"' in page.text
    assert 'data-version="1"' in page.text
    assert "Sign in</a> to use this prompt" in page.text
    signed_in = await client.get(f"/prompts/{prompt_id}", headers=alice)
    assert 'id="use-form"' in signed_in.text
    assert 'data-restore="1"' in signed_in.text
    diff = await client.get(f"/prompts/{prompt_id}/diff?from=1&to=2")
    assert diff.status_code == 200
    assert "<del>dawn</del><ins>dusk</ins>" in diff.text


async def test_private_and_missing_templates_are_404_pages(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice, visibility="private")
    for path in (
        f"/prompts/{prompt_id}",
        "/prompts/999",
        "/prompts/abc",
        f"/prompts/{prompt_id}/diff?from=1&to=1",
    ):
        response = await client.get(path, headers={"accept": "text/html"})
        assert response.status_code == 404, path
        assert "<html" in response.text
    own = await client.get(f"/prompts/{prompt_id}", headers=alice)
    assert own.status_code == 200
    assert 'name="robots" content="noindex"' in own.text
    bad = await client.get(
        f"/prompts/{prompt_id}/diff?from=x", headers={**alice, "accept": "text/html"}
    )
    assert bad.status_code == 422


@BOTH_DATABASES
async def test_what_people_type_is_escaped_on_every_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(
        client,
        alice,
        title=XSS,
        body=f"{XSS} {{subject={ATTR}}}",
        negative_prompt=XSS,
        tags=[ATTR[:32], "<b>bold</b>"],
        category=XSS[:64],
    )
    await client.patch(
        f"/api/v1/prompts/{prompt_id}", json={"title": ATTR, "tags": [XSS[:32]]}, headers=alice
    )
    pages = [
        "/prompts",
        f"/prompts?tag={ATTR[:32]}",
        f"/prompts/{prompt_id}",
        f"/prompts/{prompt_id}/diff?from=1&to=2",
    ]
    for path in pages:
        for headers in ({}, alice):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, path
            html = response.text
            assert "<script>alert" not in html, path
            assert "<img src=x" not in html, path
            assert "<b>bold</b>" not in html, path
            assert "&lt;script&gt;" in html or "&lt;img src=x" in html, path


@pytest.mark.parametrize("query", ["scope=nope", "limit=0", "cursor=%%%"])
async def test_library_page_refuses_bad_filters(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/prompts?{query}", headers={"accept": "text/html"})
    assert response.status_code in (400, 422)
