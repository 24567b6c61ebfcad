"""The navigation shell through HTTP: the language (account, cookie, Accept-Language), the
switch form, the preferences API and its bad input, the balance in the header, hashed static
files with long cache lifetimes, compressed answers, and the /api/docs page (issue #11)."""

from __future__ import annotations

import gzip
import re

import httpx
import pytest

from hub.web.assets import IMMUTABLE, static_url

HTML = {"accept": "text/html"}


async def _sign_up(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": f"{name}@example.com", "username": name, "password": "long enough pw"},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["csrf_token"]
    return token


async def test_a_visitor_gets_the_language_of_accept_language(client: httpx.AsyncClient) -> None:
    english = await client.get("/forum", headers={"accept-language": "fr, en;q=0.5"})
    assert '<html lang="en"' in english.text
    assert ">Forum</h1>" in english.text
    chinese = await client.get("/forum", headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-Hans"' in chinese.text
    assert ">论坛</h1>" in chinese.text
    assert "跳到正文" in chinese.text
    assert "Accept-Language" in chinese.headers["vary"]


async def test_the_switch_sets_a_visitors_cookie_and_goes_back(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/settings/language", data={"locale": "zh_Hans", "next": "/forum?x=1"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/forum?x=1"
    assert client.cookies.get("hub_lang") == "zh_Hans"
    page = await client.get("/forum", headers={"accept-language": "en"})
    assert ">论坛</h1>" in page.text


@pytest.mark.parametrize(
    ("data", "status"),
    [({"locale": "fr"}, 422), ({}, 422), ({"locale": "en", "next": "//evil.example"}, 303)],
)
async def test_the_switch_refuses_unknown_languages_and_foreign_targets(
    client: httpx.AsyncClient, data: dict[str, str], status: int
) -> None:
    answer = await client.post("/settings/language", data=data)
    assert answer.status_code == status
    if status == 303:
        assert answer.headers["location"] == "/"
    else:
        assert answer.json()["error"]["code"] == "validation_error"


async def test_a_visitors_switch_from_a_foreign_origin_is_refused(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(
        "/settings/language", data={"locale": "zh_Hans"}, headers={"origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    assert "hub_lang" not in client.cookies


async def test_the_accounts_language_wins_and_follows_it_everywhere(
    client: httpx.AsyncClient,
) -> None:
    csrf = await _sign_up(client, "lin")
    prefs = await client.get("/api/v1/me/preferences")
    assert prefs.json() == {"locale": None, "timezone": None}
    refused = await client.post("/settings/language", data={"locale": "zh_Hans"})
    assert refused.status_code == 403  # a signed-in switch needs the session's token
    switched = await client.post(
        "/settings/language", data={"locale": "zh_Hans", "csrf_token": csrf, "next": "/"}
    )
    assert switched.status_code == 303
    assert (await client.get("/api/v1/me/preferences")).json()["locale"] == "zh_Hans"
    client.cookies.delete("hub_lang")
    page = await client.get("/", headers={"accept-language": "en"})
    assert '<html lang="zh-Hans"' in page.text
    assert "退出登录" in page.text


async def test_preferences_set_the_time_zone_of_dates(client: httpx.AsyncClient) -> None:
    csrf = await _sign_up(client, "tzone")
    answer = await client.patch(
        "/api/v1/me/preferences",
        json={"timezone": "Asia/Shanghai", "locale": "en"},
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"locale": "en", "timezone": "Asia/Shanghai"}
    page = await client.get("/")
    assert 'data-tz="Asia/Shanghai"' in page.text
    cleared = await client.patch(
        "/api/v1/me/preferences", json={"timezone": None}, headers={"x-csrf-token": csrf}
    )
    assert cleared.json() == {"locale": "en", "timezone": None}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"locale": "fr"},
        {"timezone": "Mars/Olympus"},
        {"timezone": ""},
        {"timezone": "x" * 65},
        {"locale": 3},
        {"colour": "red"},
    ],
)
async def test_bad_preferences_are_refused(client: httpx.AsyncClient, body: object) -> None:
    csrf = await _sign_up(client, "bad")
    answer = await client.patch("/api/v1/me/preferences", json=body, headers={"x-csrf-token": csrf})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_error"


async def test_preferences_need_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/v1/me/preferences")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


async def test_the_header_shows_the_balance_and_the_menu(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/", headers=HTML)
    assert 'id="shell-credits"' not in anonymous.text
    assert 'class="skip-link" href="#main"' in anonymous.text
    await _sign_up(client, "ada")
    balance = (await client.get("/api/v1/credits")).json()["balance"]
    page = await client.get("/feed", headers=HTML)
    found = re.search(r'id="shell-credits">([^<]+)<', page.text)
    assert found is not None
    assert found.group(1) == f"{balance} credits"
    assert 'href="/feed" aria-current="page"' in page.text
    assert 'href="/u/ada"' in page.text


async def test_static_files_have_hashed_names_and_long_lifetimes(
    client: httpx.AsyncClient,
) -> None:
    url = static_url("css/hub.css")
    assert re.fullmatch(r"/static/v/[0-9a-f]{12}/css/hub\.css", url)
    hashed = await client.get(url)
    assert hashed.status_code == 200
    assert hashed.headers["cache-control"] == IMMUTABLE
    stale = await client.get("/static/v/000000000000/css/hub.css")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"
    plain = await client.get("/static/css/hub.css")
    assert plain.headers["cache-control"] == "no-cache"
    assert (await client.get("/static/v/000000000000/../../hub/app.py")).status_code == 404
    page = await client.get("/")
    assert url in page.text


async def test_answers_are_compressed(client: httpx.AsyncClient) -> None:
    raw = await client.get("/", headers={"accept-encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    async with client.stream("GET", "/", headers={"accept-encoding": "gzip"}) as streamed:
        body = b"".join([chunk async for chunk in streamed.aiter_raw()])
    assert gzip.decompress(body).startswith(b"<!doctype html>")
    brotli = await client.get(static_url("css/hub.css"), headers={"accept-encoding": "br"})
    assert brotli.headers["content-encoding"] == "br"


async def test_the_api_docs_page_uses_the_vendored_viewer(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/docs", headers=HTML)
    assert page.status_code == 200
    assert 'data-spec="/api/v1/openapi.json"' in page.text
    bundle = re.search(r'src="(/static/v/\w+/vendor/swagger-ui/swagger-ui-bundle\.js)"', page.text)
    assert bundle is not None
    assert (await client.get(bundle.group(1))).status_code == 200
    assert "https://" not in re.sub(r'<link rel="canonical"[^>]*>', "", page.text)
