"""``/settings`` through HTTP: visitors go to sign in; the page shows the profile, the personal
tokens and the signed-in browsers (this one marked) and wires each form to its JSON endpoint
with the session's CSRF token, never as a plain form post."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.helpers import BOTH_DATABASES

from .helpers import signed_up

HTML = {"accept": "text/html"}


async def test_visitors_are_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/settings", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings"


@BOTH_DATABASES
async def test_the_page_shows_profile_tokens_and_sessions(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    csrf = await signed_up(client, "alice", display_name="Alice <b>A</b>")
    headers = {"x-csrf-token": csrf}
    patched = await client.patch("/api/v1/me", json={"bio": "Paints harbours"}, headers=headers)
    assert patched.status_code == 200, patched.text
    made = await client.post("/api/v1/me/tokens", json={"name": "my script"}, headers=headers)
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    token_id = made.json()["token"]["token_id"]

    page = await client.get("/settings", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert 'value="Alice &lt;b&gt;A&lt;/b&gt;"' in text  # escaped, never markup
    assert "Paints harbours" in text
    assert f'data-csrf="{csrf}"' in text
    assert f'data-token-id="{token_id}"' in text
    assert "my script" in text
    assert secret not in text  # the secret was shown once, in the API's answer
    assert f'data-api="/api/v1/me/tokens/{token_id}" data-method="DELETE"' in text
    assert re.findall(r'data-current="(\w+)"', text) == ["true"]
    assert 'data-api="/api/v1/me/sessions" data-method="DELETE"' in text
    assert 'id="tokens-empty" hidden' in text
    # The forms post through the script only: a bare form post would skip the CSRF header.
    # (The page's own forms: the shell around it has its search and language forms.)
    main = text.split("<main", 1)[1].split("</main>", 1)[0]
    assert re.findall(r"<form[^>]*\saction=", main) == []

    revoked = await client.delete(f"/api/v1/me/tokens/{token_id}", headers=headers)
    assert revoked.status_code == 204
    again = (await client.get("/settings", headers=HTML)).text
    assert "my script" not in again
    assert 'id="tokens-empty">' in again
