"""``GET /api/v1/search`` through HTTP on both databases: who finds what, filters, paging,
Chinese and short terms, and every kind of bad input."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hub.search.service import DocKind
from tests.helpers import BOTH_DATABASES
from tests.hub.search.helpers import T0, doc, every_page, index, refs
from tests.hub.storage.helpers import new_user, save_image

API = "/api/v1/search"


@BOTH_DATABASES
async def test_people_are_found_by_name_and_bio_and_follow_their_profile_edits(
    client: httpx.AsyncClient,
) -> None:
    alice = await new_user(client, "alice_w")
    await new_user(client, "bob_k")
    assert await refs(client, q="alice_w", type="user") == [str(alice.user_id)]
    response = await client.patch(
        "/api/v1/me",
        json={"display_name": "Alice Wonder", "bio": "Paints lighthouses in gouache"},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    assert await refs(client, q="lighthouses") == [str(alice.user_id)]
    assert await refs(client, q="Wonder", type="user") == [str(alice.user_id)]
    item = (await client.get(API, params={"q": "gouache"})).json()["items"][0]
    assert item["url"] == "/u/alice_w"
    assert item["kind"] == "user"
    assert item["public"] is True
    await client.patch("/api/v1/me", json={"bio": "Now sculpts"}, headers=alice.headers)
    assert await refs(client, q="lighthouses") == []


@BOTH_DATABASES
async def test_concurrent_profile_edits_leave_one_document_with_the_last_bio(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    alice = await new_user(client, "alice")
    marks = [f"n{n}q" for n in range(12)]
    responses = await asyncio.gather(
        *(
            client.patch("/api/v1/me", json={"bio": f"zebra {m}"}, headers=alice.headers)
            for m in marks
        )
    )
    assert [r.status_code for r in responses] == [200] * len(marks)
    last = (await client.get("/api/v1/me", headers=alice.headers)).json()["bio"].split()[-1]
    assert await refs(client, q="zebra", type="user") == [str(alice.user_id)]
    # The index says what the profile says: the last edit, and none of the others.
    for mark in marks:
        expected = [str(alice.user_id)] if mark == last else []
        assert await refs(client, q=mark) == expected, mark


@BOTH_DATABASES
async def test_library_images_are_found_by_their_owner_only(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    image = await save_image(ctx, alice, prompt="a copper teapot on a windowsill", model="sdxl")
    assert await refs(client, alice.headers, q="teapot") == [image.image_id]
    assert await refs(client, bob.headers, q="teapot") == []
    assert await refs(client, q="teapot") == []
    # Not through filters or browsing everything either.
    assert await every_page(client, bob.headers, type="image") == []
    assert await every_page(client, model="sdxl") == []
    item = (await client.get(API, params={"q": "teapot"}, headers=alice.headers)).json()["items"]
    assert item[0]["public"] is False
    assert item[0]["model"] == "sdxl"
    assert item[0]["image_url"].startswith("/media/images/")
    # Deleting the image takes it out of the index.
    deleted = await client.delete(f"/api/v1/images/{image.image_id}", headers=alice.headers)
    assert deleted.status_code == 204
    assert await refs(client, alice.headers, q="teapot") == []


@BOTH_DATABASES
async def test_owner_only_documents_never_leak(client: httpx.AsyncClient, ctx: Any) -> None:
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    await index(
        ctx.db,
        doc("w1", "Draft: nebula study", owner_id=alice.user_id, public=False, kind=DocKind.work),
        doc("w2", "Published nebula", owner_id=alice.user_id, kind=DocKind.work),
        doc("w3", "Bob's nebula draft", owner_id=bob.user_id, public=False, kind=DocKind.work),
    )
    assert set(await every_page(client, alice.headers, q="nebula", limit=1)) == {"w1", "w2"}
    assert set(await every_page(client, bob.headers, q="nebula", limit=1)) == {"w2", "w3"}
    assert await every_page(client, q="nebula", limit=1) == ["w2"]
    assert await every_page(client, type="work") == ["w2"]
    # A bearer token that is not valid is an error, never a quiet anonymous search.
    bad = await client.get(API, params={"q": "nebula"}, headers={"authorization": "Bearer x"})
    assert bad.status_code == 401


@BOTH_DATABASES
async def test_filters_combine(client: httpx.AsyncClient, ctx: Any) -> None:
    await index(
        ctx.db,
        doc("t1", "Koi pond", "ink", category="showcase", minutes=0),
        doc("t2", "Koi pond II", "ink", category="help", minutes=10),
        doc("w1", "Koi", "ink", kind=DocKind.work, model="sdxl", category="showcase", minutes=20),
        doc("c1", "", "koi comment", kind=DocKind.comment, minutes=30),
    )
    assert await refs(client, q="koi", type="thread", sort="newest") == ["t2", "t1"]
    assert await refs(client, q="koi", type="thread,work", sort="newest") == ["w1", "t2", "t1"]
    assert await refs(client, q="koi", category="showcase", sort="newest") == ["w1", "t1"]
    assert await refs(client, model="sdxl") == ["w1"]
    since = (T0 + timedelta(minutes=10)).isoformat()
    until = (T0 + timedelta(minutes=30)).isoformat()
    assert await refs(client, q="koi", since=since, until=until, sort="newest") == ["w1", "t2"]
    assert await refs(client, since="2026-12-02") == []
    # Times just outside UTC's range are the start and the end of time.
    assert len(await refs(client, since="0001-01-01T00:00:00+05:00")) == 4
    assert len(await refs(client, until="9999-12-31T23:00:00-05:00")) == 4
    assert await refs(client, until="0001-01-01T00:00:00+05:00") == []
    # A form sends every field; blank ones are no filter.
    assert len(await refs(client, q="koi", type="", category="", model="", since="")) == 4


@BOTH_DATABASES
async def test_relevance_puts_title_matches_first(client: httpx.AsyncClient, ctx: Any) -> None:
    await index(
        ctx.db,
        doc("body", "A harbour", "with a lighthouse somewhere far away", minutes=5),
        doc("title", "Lighthouse", "on a rock", minutes=0),
    )
    assert await refs(client, q="lighthouse") == ["title", "body"]
    assert await refs(client, q="lighthouse", sort="newest") == ["body", "title"]


@BOTH_DATABASES
@pytest.mark.parametrize("sort", ["relevance", "newest"])
async def test_paging_visits_every_hit_once(client: httpx.AsyncClient, ctx: Any, sort: str) -> None:
    # Equal scores and equal times: the tie-breaks must still give one strict order.
    docs = [doc(f"d{n}", "maple leaf", "maple", minutes=n % 3) for n in range(11)]
    docs += [doc("x1", "maple maple maple", "maple maple", minutes=1)]
    await index(ctx.db, *docs)
    once = await refs(client, q="maple", sort=sort, limit=100)
    paged = await every_page(client, q="maple", sort=sort, limit=2)
    assert paged == once
    assert sorted(paged) == sorted(d.ref_id for d in docs)


@BOTH_DATABASES
async def test_chinese_phrases_exclusions_and_short_terms(
    client: httpx.AsyncClient, ctx: Any
) -> None:
    await index(
        ctx.db,
        doc("cn1", "山水画", "一幅水墨山水画 远山和小船"),
        doc("cn2", "小猫", "一只橘猫在窗台上睡觉"),
        doc("en1", "Red fox", "a red fox in deep snow"),
        doc("en2", "Fox den", "the den of a fox"),
    )
    assert await refs(client, q="山水") == ["cn1"]  # 2 characters
    assert await refs(client, q="水墨山水画") == ["cn1"]
    assert await refs(client, q="橘猫 窗台") == ["cn2"]
    assert await refs(client, q="猫") == ["cn2"]
    assert set(await refs(client, q="fox")) == {"en1", "en2"}
    assert await refs(client, q='"red fox"') == ["en1"]
    assert await refs(client, q="fox -snow") == ["en2"]
    assert await refs(client, q='fox -"deep snow"') == ["en2"]
    assert await refs(client, q="fox or") == []  # 'or' is a word here, not an operator
    # Only exclusions: everything else, newest first (equal times: the later row first).
    assert await refs(client, q="-fox", type="thread") == ["cn2", "cn1"]
    assert await refs(client, q="-山水 -橘猫") == ["en2", "en1"]


def _cursor(parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


@BOTH_DATABASES
@pytest.mark.parametrize(
    ("params", "cursor"),
    [
        ({"q": "maple"}, "garbage!"),
        ({"q": "maple"}, "bm90IGpzb24"),  # base64 of "not json"
        ({"q": "maple"}, _cursor(["n", "2026-12-01T12:00:00+00:00", 1])),  # other order's
        ({}, _cursor(["r", 1.0, "2026-12-01T12:00:00+00:00", 1])),
        ({"q": "maple"}, _cursor(["r", "1", "2026-12-01T12:00:00+00:00", 1])),
        ({"q": "maple"}, _cursor(["r", 1.0, "2026-12-01T12:00:00", 1])),  # naive time
        ({"q": "maple"}, _cursor(["r", 1.0, "yesterday", 1])),
        ({"q": "maple"}, _cursor(["r", 1.0, "2026-12-01T12:00:00+00:00", "1"])),
        ({}, _cursor(["n", "2026-12-01T12:00:00+00:00", True])),
        ({}, _cursor({"n": 1})),
        ({}, _cursor(["n", "2026-12-01T12:00:00+00:00", 10**20])),  # beyond INTEGER
        ({}, _cursor(["n", "2026-12-01T12:00:00+00:00", -1])),
        ({}, _cursor(["n", "0001-01-01T00:00:00+05:00", 1])),  # before UTC's year 1
        ({"q": "maple"}, _cursor(["r", 1e400, "2026-12-01T12:00:00+00:00", 1])),
        ({}, "QQ" * 150),
    ],
)
async def test_a_cursor_the_hub_did_not_make_is_400(
    client: httpx.AsyncClient, ctx: Any, params: dict[str, str], cursor: str
) -> None:
    await index(ctx.db, doc("1", "maple"))
    response = await client.get(API, params={**params, "cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "params",
    [
        {"type": "cat"},
        {"type": "thread,"},
        {"limit": "0"},
        {"limit": "101"},
        {"sort": "best"},
        {"since": "yesterday"},
        {"until": "12.5"},
        {"q": "x" * 201},
        {"model": "m" * 65},
        {"unknown": "1"},
        {"kinds": "thread"},  # the field's name is no parameter; `type` is
    ],
)
async def test_bad_parameters_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get(API, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


@BOTH_DATABASES
async def test_odd_queries_are_answered_not_crashed(client: httpx.AsyncClient, ctx: Any) -> None:
    await index(ctx.db, doc("1", "50% off", 'quote " and \\ backslash'))
    for q in ['"', '""', "-", "--", "%", "_", "\\", "' OR 1=1 --", "NEAR(a b)", "a* b^", "\x01"]:
        response = await client.get(API, params={"q": q})
        assert response.status_code == 200, (q, response.text)
    assert await refs(client, q="50%") == ["1"]
    assert await refs(client, q="%") == ["1"]
    assert await refs(client, q="_") == []


async def test_the_operation_is_documented(client: httpx.AsyncClient) -> None:
    doc_ = (await client.get("/api/v1/openapi.json")).json()
    entry = doc_["paths"][API]["get"]
    names = {p["name"] for p in entry["parameters"]}
    assert {"q", "type", "category", "model", "since", "until", "sort", "cursor", "limit"} <= names
    assert {"200", "400", "401", "422"} <= set(entry["responses"])
    assert any(r["status"] == 400 for r in entry["x-refusals"])
