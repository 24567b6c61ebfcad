"""Stored and reflected XSS: the payload corpus (``payloads.py``) through every free-text field of
the JSON API, the room chat and every form, then every page read back and parsed.

The fields, pages and forms are not listed here: the fields come from the OpenAPI document
(``planter.py``), the pages and form posts from the routing table (``routes.py``), the forms'
fields from the pages themselves. What is planted is checked where people see it: every page as
the room's owner and as a visitor, with the corpus in the query string too, the people panel,
and every form's answer. JSON answers are checked for their content type instead (a browser
never renders ``application/json`` as a page, given ``nosniff``).
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

import httpx
import pytest

from tests.helpers import eventually
from tests.rooms.ykit import EventClient
from tests.security.conftest import Site
from tests.security.forms import forms
from tests.security.payloads import PAYLOADS, html_problems
from tests.security.planter import NoBody, body
from tests.security.routes import fill, operations, pages

pytestmark = pytest.mark.slow

# Operations that take free text but store nothing anyone sees, with why.
NOT_STORED = {
    "refresh_post": "a credential, checked and forgotten",
    "revoke_post": "a credential, checked and forgotten",
    "admin_job_cancel_post": "kept only when a job is canceled; the scene's job has finished",
}
# Query parameters pages read (or might): a reflected value must be escaped too.
QUERY = ("next", "q", "error", "cursor")
JSON_TYPES = ("application/json",)
OTHER_TYPES = (
    "image/svg+xml",
    "image/png",
    "image/webp",
    "application/zip",
    "text/event-stream",
    "text/csv",  # the audit export (an attachment, with nosniff)
)


# A few fields the planter must reach today: proof that it plants at all.
KNOWN_FIELDS = {
    "create_room_post.title",
    "patch_room_patch.description",
    "update_me_patch.display_name",
    "update_me_patch.bio",
    "jobs_create_post.prompt",
    "room_jobs_create_post.negative_prompt",
}


async def _plant(
    site: Site, http: httpx.AsyncClient, text: str, reached: set[str] | None = None
) -> list[str]:
    """Sends ``text`` in every free-text field of every operation (adding ``operation.field``
    to ``reached``); returns what failed."""
    document = (await http.get("/api/v1/openapi.json")).json()
    failures = []
    for op in operations(document):
        if op.body is None or op.operation_id in NOT_STORED:
            continue
        try:
            payload, planted = body(op.body, text, site.params)
        except NoBody as exc:
            failures.append(f"{op.method} {op.path}: {exc}")
            continue
        if not planted:
            continue
        headers = site.alice.api if op.authenticated else {}
        http.cookies.clear()  # an earlier sign-in's cookie would make this a session's request
        path = fill(op.path, site.params)
        answer = await http.request(op.method, path, json=payload, headers=headers)
        if answer.status_code >= 400:
            failures.append(f"{op.method} {op.path} {planted}: {answer.status_code} {answer.text}")
        elif reached is not None:
            reached.update(f"{op.operation_id}.{name}" for name in planted)
    return failures


async def _chat(site: Site, text: str) -> None:
    url = f"{site.live.ws_url}/rooms/{site.params['slug']}/events?token={site.alice.bearer}"
    events = await EventClient.open(url)
    try:
        await events.wait_for("welcome")
        await events.send({"type": "chat.send", "data": {"text": text}})
        await events.wait_for("chat.message")
    finally:
        await events.close()


def _is_html(answer: httpx.Response) -> bool:
    kind: str = answer.headers.get("content-type", "")
    return kind.startswith("text/html")


async def _scan_pages(site: Site, http: httpx.AsyncClient, text: str) -> list[str]:
    problems = []
    query = "?" + urlencode(dict.fromkeys(QUERY, text))
    for path in pages(site.live.app):
        for who in ({"cookie": f"hub_session={site.alice.cookie}"}, {}):
            for suffix in ("", query):
                url = fill(path, site.params) + suffix
                answer = await http.get(url, headers=who, follow_redirects=True)
                if answer.status_code >= 500:
                    problems.append(f"GET {url}: {answer.status_code}")
                elif _is_html(answer):
                    problems += [f"GET {url}: {p}" for p in html_problems(answer.text)]
    return problems


async def _wait_for_jobs(site: Site, http: httpx.AsyncClient) -> None:
    async def idle() -> bool:
        queue = (await http.get("/api/v1/queue", headers=site.alice.api)).json()
        return bool(queue["running"] == queue["queued"] == 0)

    await eventually(idle, timeout=60, interval=0.2, message="the planted jobs finished")


async def test_no_field_or_page_renders_a_payload_as_markup(site: Site) -> None:
    """Every payload of the corpus, in every free-text field the API takes and in the chat,
    comes back escaped on every page, for the owner and a visitor, also when the page is
    asked for with the payload in its query string; and pages never answer 5xx. About 30 s."""
    problems: list[str] = []
    reached: set[str] = set()
    async with site.http() as http:
        for text in PAYLOADS:
            problems += await _plant(site, http, text, reached)
            await _chat(site, text)
            problems += await _scan_pages(site, http, text)
        await _wait_for_jobs(site, http)
        problems += await _scan_pages(site, http, PAYLOADS[0])
    assert problems == [], "\n".join(problems)
    assert reached >= KNOWN_FIELDS, KNOWN_FIELDS - reached


async def _submit_forms(site: Site, http: httpx.AsyncClient) -> list[str]:
    """Every form on every page ``http`` sees, once per payload; the problems found."""
    problems = []
    for path in pages(site.live.app):
        page = await http.get(fill(path, site.params), follow_redirects=True)
        for method, action, fields, typed in forms(page.text):
            fillable = [f for f in typed if f != "csrf_token"]
            for text in PAYLOADS if fillable else ():
                data = {**fields, **dict.fromkeys(fillable, text)}
                if method == "POST":
                    answer = await http.post(action, data=data, follow_redirects=True)
                else:
                    answer = await http.get(action, params=data, follow_redirects=True)
                where = f"{method} {action} (from {path})"
                if answer.status_code >= 500:
                    problems.append(f"{where}: {answer.status_code}")
                elif _is_html(answer):
                    problems += [f"{where}: {p}" for p in html_problems(answer.text)]
    return problems


async def test_every_form_answer_escapes_what_was_typed(site: Site) -> None:
    """Each form found on any page (signed in and signed out), submitted with a payload in
    every field a person can type into (and the hidden ones but the CSRF token), answers
    without rendering it as markup and without a 5xx. About 10 s."""
    problems: list[str] = []
    for cookies in ({"hub_session": site.alice.cookie}, {}):
        async with site.http(cookies=cookies) as http:
            problems += await _submit_forms(site, http)
    assert problems == [], "\n".join(problems)


async def test_api_answers_are_never_html(site: Site) -> None:
    """Every GET operation of the OpenAPI document answers JSON (or a declared media type:
    images, zips, event streams), never HTML, and always with ``nosniff``, so text a person
    stored cannot be rendered as a page by a browser that opens the URL. About 3 s."""
    await _plant_once(site)
    async with site.http() as http:
        document = (await http.get("/api/v1/openapi.json")).json()
        wrong = []
        for op in operations(document):
            if op.method != "GET" or op.path.endswith("/events"):
                continue  # the event stream never ends; its type is in the document
            answer = await http.get(fill(op.path, site.params), headers=site.alice.api)
            kind = answer.headers.get("content-type", "")
            if not kind.startswith(JSON_TYPES + OTHER_TYPES):
                wrong.append(f"GET {op.path}: {kind}")
            if answer.headers.get("x-content-type-options") != "nosniff":
                wrong.append(f"GET {op.path}: no nosniff")
            if kind.startswith("image/svg+xml"):
                wrong += [f"GET {op.path}: {p}" for p in html_problems(answer.text)]
    assert wrong == [], "\n".join(wrong)


async def _plant_once(site: Site) -> None:
    async with site.http() as http:
        assert await _plant(site, http, PAYLOADS[1]) == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_check_flags_each_payload_left_unescaped(payload: str) -> None:
    """The check above can fail: each payload written into a page raw is flagged (the one
    without markup once a template evaluated it), and the same page escaped is not."""
    page = "<title>{0}</title><p>{0}</p><textarea>{0}</textarea><input value='{0}'>"
    raw = page.format(payload.replace("{{7*7}}${7*7}", "49"))
    assert html_problems(raw) != []
    assert html_problems(page.format(html.escape(payload))) == []
