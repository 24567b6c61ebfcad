"""Cross-site request forgery on every form post and every unsafe JSON operation.

The routes come from the app (``routes.py``): form posts from its routing table, operations from
its OpenAPI document, so the forms and endpoints added later are checked as they appear. The rule
(docs/accounts.md, "CSRF and Origin"): a cookie-authenticated unsafe request needs the session's
CSRF token and, when it has an ``Origin``, one of the site's own; the sign-in forms use a
double-submit token instead of the session's. A refusal is 403 ``csrf_failed`` and changes no
table; the same request with the token and the site's Origin is not refused, which shows that the
403 came from the CSRF check.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.security.conftest import Person, Site
from tests.security.forms import forms
from tests.security.planter import NoBody, body
from tests.security.routes import Operation, fill, form_posts, operations, pages

pytestmark = pytest.mark.slow

FOREIGN = ("https://evil.example", "null")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Unsafe operations that start a session (so take no cookie session's token) and check the
# Origin only (docs/accounts.md); sent with the cookie, they would replace the session.
ORIGIN_ONLY = {"register_post", "login_post"}
# Cookie-session operations the document does not mark as authenticated (anyone may call it).
SESSION_TOO = {"logout_post"}
# Form posts only the author of what they change may make (a stranger's is a 403 forbidden): sent
# from a new session of alice, who made everything in ``Site.params`` (and is the admin, for the
# admin pages' forms).
AUTHOR_ONLY = ("/artwork/", "/admin/")


async def _form_tokens(site: Site, http: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """Form action -> the hidden fields a page of the site gives it (its CSRF token), fetched
    with ``http``'s session; the client keeps the cookies the pages set (double-submit)."""
    found: dict[str, dict[str, str]] = {}
    for path in pages(site.live.app):
        page = await http.get(fill(path, site.params), follow_redirects=True)
        for method, action, fields, _ in forms(page.text):
            if method == "POST":
                found.setdefault(action, fields)
    return found


async def _fields(site: Site, http: httpx.AsyncClient, action: str, person: Person) -> Any:
    """The fields a page of the site gives ``http``'s browser for the form posting to
    ``action`` (its token valid in this client), or the session's token if no page shows it."""
    return (await _form_tokens(site, http)).get(action, {"csrf_token": person.csrf})


async def _browser(site: Site, person: Person, action: str) -> dict[str, str]:
    """Whose cookies post ``action``: the signed-in person's, or none for a form that only
    signed-out visitors see (sign in, sign up)."""
    signed_in = {"hub_session": person.cookie}
    async with site.http(cookies=signed_in) as http:
        if action in await _form_tokens(site, http):
            return signed_in
    async with site.http() as http:
        return {} if action in await _form_tokens(site, http) else signed_in


async def _refusals(site: Site, person: Person, action: str, cookies: dict[str, str]) -> list[str]:
    wrong = []
    async with site.http(cookies=cookies) as http:
        fields = await _fields(site, http, action, person)
        attempts = [
            ({k: v for k, v in fields.items() if k != "csrf_token"}, site.url),
            ({**fields, "csrf_token": "forged-token-value-0123456789abcdef"}, site.url),
            *[(fields, origin) for origin in FOREIGN],
        ]
        for data, origin in attempts:
            answer = await http.post(action, data=data, headers={"origin": origin})
            if answer.status_code != 403:
                wrong.append(f"POST {action} origin={origin} {sorted(data)}: {answer.status_code}")
    return wrong


async def test_every_form_post_needs_the_token_and_the_sites_origin(site: Site) -> None:
    """For every form post of the app, from the browser that sees the form (signed in, or
    signed out for sign-in and sign-up): no token, a forged token, a foreign Origin and
    ``Origin: null`` are each refused with 403 and change no table; the form as the site
    serves it is not refused. About 10 s."""
    actions = [fill(path, site.params) for path in form_posts(site.live.app)]
    people = [
        await (
            site.again(site.alice) if action.startswith(AUTHOR_ONLY) else site.person(f"form{n}")
        )
        for n, action in enumerate(actions)
    ]
    browsers = [await _browser(site, p, a) for p, a in zip(people, actions, strict=True)]
    cases = list(zip(people, actions, browsers, strict=True))
    before = await site.row_counts()
    wrong: list[str] = []
    for person, action, cookies in cases:
        wrong += await _refusals(site, person, action, cookies)
    assert wrong == [], "\n".join(wrong)
    assert await site.row_counts() == before
    for person, action, cookies in cases:
        async with site.http(cookies=cookies) as http:
            answer = await http.post(action, data=await _fields(site, http, action, person))
        assert answer.status_code != 403, (action, answer.text)


def _body(op: Operation, site: Site) -> object:
    if op.body is None:
        return None
    try:
        return body(op.body, "csrf probe", site.params)[0]
    except NoBody:
        return {}


def _cookie_ops(document: dict[str, object]) -> list[Operation]:
    return [
        op
        for op in operations(document)
        if op.method in UNSAFE
        and (op.authenticated or op.operation_id in ORIGIN_ONLY | SESSION_TOO)
    ]


async def test_every_unsafe_api_call_with_the_cookie_needs_the_token_and_origin(
    site: Site,
) -> None:
    """For every unsafe operation of the OpenAPI document that a browser session can call:
    with the session cookie but no ``X-CSRF-Token``, and with the token but a foreign or
    ``null`` Origin, the answer is 403 ``csrf_failed`` and no table changes (sign-up and
    sign-in, which start sessions, get the foreign Origins only). About 5 s."""
    alice = site.alice
    async with site.http() as http:
        document = (await http.get("/api/v1/openapi.json")).json()
        before = await site.row_counts()
        wrong = []
        for op in _cookie_ops(document):
            path, payload = fill(op.path, site.params), _body(op, site)
            attempts = [{**alice.browser, "origin": origin} for origin in FOREIGN]
            if op.operation_id not in ORIGIN_ONLY:
                attempts.append({"cookie": f"hub_session={alice.cookie}"})
            for headers in attempts:
                answer = await http.request(op.method, path, json=payload, headers=headers)
                code = answer.json().get("error", {}).get("code") if answer.content else None
                if (answer.status_code, code) != (403, "csrf_failed"):
                    wrong.append(f"{op.method} {op.path} {headers}: {answer.status_code} {code}")
        assert wrong == [], "\n".join(wrong)
        assert await site.row_counts() == before
        # The same session with its token and no foreign Origin gets through: the 403s above
        # were the CSRF check's.
        control = await http.patch("/api/v1/me", json={"bio": "hi"}, headers=alice.browser)
        assert control.status_code == 200, control.text
