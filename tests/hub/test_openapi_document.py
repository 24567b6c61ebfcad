"""What schemathesis found in the OpenAPI document, one case each, through HTTP (#8, point 8)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from hub.context import HubContext
from hub.errors import ErrorCode
from hub.pagination import CURSOR_PATTERN
from tests.hub.collab.conftest import create_room, create_test_user
from tests.hub.storage.helpers import image_bytes

API = "/api/v1"


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


async def test_every_body_operation_documents_the_common_errors(client: httpx.AsyncClient) -> None:
    doc = await document(client)
    for path, operations in doc["paths"].items():
        for method, entry in operations.items():
            statuses = set(entry["responses"])
            if "requestBody" in entry:
                assert {"400", "413", "415", "422"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
            if "security" in entry:
                assert "401" in statuses, (method, path)
                if method != "get" and {"session": []} in entry["security"]:
                    assert "403" in statuses, (method, path)


async def test_the_session_endpoint_declares_the_cookie_only(client: httpx.AsyncClient) -> None:
    doc = await document(client)
    assert doc["paths"][f"{API}/auth/session"]["get"]["security"] == [{"session": []}]
    assert doc["paths"][f"{API}/me"]["get"]["security"] == [{"bearer": []}, {"session": []}]


async def test_405_allows_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    for path, allowed in [
        (f"{API}/me", "GET, HEAD, PATCH"),
        (f"{API}/rooms/some-room-12345678", "DELETE, GET, HEAD, PATCH"),
        (f"{API}/images/download", "POST"),
    ]:
        response = await client.put(path)
        assert response.status_code == 405
        assert response.headers["allow"] == allowed
        assert response.json()["error"]["code"] == "method_not_allowed"


async def test_profile_patch_needs_a_field_and_takes_no_nulls(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    schema = (await document(client))["components"]["schemas"]["ProfileUpdateIn"]
    assert schema["minProperties"] == 1
    assert schema["properties"]["bio"]["type"] == "string"
    user = await create_test_user(ctx, "patcher", "Patcher")
    for body in ({}, {"bio": None}):
        response = await client.patch(f"{API}/me", json=body, headers=user.headers)
        assert response.status_code == 422, response.text
    ok = await client.patch(f"{API}/me", json={"bio": "hi"}, headers=user.headers)
    assert ok.status_code == 200


async def test_an_integral_float_is_an_integer(client: httpx.AsyncClient, ctx: HubContext) -> None:
    user = await create_test_user(ctx, "floaty", "Floaty")
    body = {"model": "offline-sketch", "prompt": "a kite", "count": 2.0, "steps": 4.0}
    response = await client.post(f"{API}/jobs", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    assert response.json()["jobs"][0]["params"]["count"] == 2
    body["count"] = 2.5
    refused = await client.post(f"{API}/jobs", json=body, headers=user.headers)
    assert refused.status_code == 422


async def test_transfer_to_a_huge_user_id_is_422_not_500(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    owner = await create_test_user(ctx, "olivia", "Olivia")
    slug = (await create_room(client, owner))["slug"]
    response = await client.post(
        f"{API}/rooms/{slug}/transfer",
        json={"user_id": 32589158477190044730},
        headers=owner.headers,
    )
    assert response.status_code == 422, response.text


def pattern_of(schema: dict[str, Any]) -> re.Pattern[str]:
    # JSON Schema patterns are searches; with ^...$ fullmatch reads `$` as ECMA-262 does (the end
    # of the string, not before a final newline as Python's search would).
    string = next((s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"), schema)
    return re.compile(string["pattern"])


@pytest.mark.parametrize(
    "title",
    ["ok", "   ", "ok\t", "\tok", "a\u200bb", "a\x00b", "\ue000 icon", "new \u0378", "😺‍🐱"],
)
async def test_a_title_is_refused_exactly_when_its_pattern_refuses_it(
    client: httpx.AsyncClient, ctx: HubContext, title: str
) -> None:
    schema = (await document(client))["components"]["schemas"]["RoomCreateIn"]
    owner = await create_test_user(ctx, "tina", "Tina")
    response = await client.post(f"{API}/rooms", json={"title": title}, headers=owner.headers)
    allowed = pattern_of(schema["properties"]["title"]).fullmatch(title) is not None
    assert response.status_code == (201 if allowed else 422), response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "alice\n"),
        ("username", "ROOT"),
        ("email", " alice@example.com"),
        ("email", "alice@example.com\n"),
    ],
)
async def test_register_refuses_what_the_patterns_refuse(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    schema = (await document(client))["components"]["schemas"]["RegisterIn"]
    assert pattern_of(schema["properties"][field]).fullmatch(value) is None
    body = {"email": "alice@example.com", "username": "alice", "password": "correct horse 9"}
    response = await client.post(f"{API}/auth/register", json={**body, field: value})
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["details"]["fields"]
    assert [f["field"] for f in fields] == [field]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/rooms", {"title": "ok", "allow_anonymous_view": 0}),
        ("/rooms", {"title": "ok", "max_members": "5"}),
    ],
)
async def test_a_json_value_of_another_type_is_422(
    client: httpx.AsyncClient, ctx: HubContext, path: str, body: dict[str, Any]
) -> None:
    user = await create_test_user(ctx, "strict", "Strict")
    response = await client.post(f"{API}{path}", json=body, headers=user.headers)
    assert response.status_code == 422, response.text


async def test_image_times_are_iso_8601_and_a_reversed_range_is_empty(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    user = await create_test_user(ctx, "timer", "Timer")
    for params in ({"until": "0.5"}, {"since": "1700000000"}):
        response = await client.get(f"{API}/images", params=params, headers=user.headers)
        assert response.status_code == 422, response.text
    reversed_range = {"since": "2026-11-03T00:00:00Z", "until": "2026-11-02T00:00:00Z"}
    response = await client.get(f"{API}/images", params=reversed_range, headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


async def test_a_cursor_with_a_stray_character_is_400(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    user = await create_test_user(ctx, "pager", "Pager")
    for prompt in ("one", "two"):
        body = {"model": "offline-sketch", "prompt": prompt}
        made = await client.post(f"{API}/jobs", json=body, headers=user.headers)
        assert made.status_code == 201, made.text
    first = await client.get(f"{API}/jobs", params={"limit": 1}, headers=user.headers)
    cursor = first.json()["next_cursor"]
    assert cursor
    bent = cursor[:4] + "!" + cursor[4:]
    assert pattern_of({"pattern": CURSOR_PATTERN}).fullmatch(bent) is None
    response = await client.get(
        f"{API}/jobs", params={"limit": 1, "cursor": bent}, headers=user.headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"


async def test_rules_the_schemas_cannot_state_are_listed_as_refusals(
    client: httpx.AsyncClient,
) -> None:
    doc = await document(client)
    codes = {code.value for code in ErrorCode}
    refused: dict[str, set[str]] = {}
    for path, operations in doc["paths"].items():
        for method, entry in operations.items():
            for refusal in entry.get("x-refusals", []):
                assert refusal["code"] in codes
                assert str(refusal["status"]) in entry["responses"], (method, path)
                assert refusal["why"]
                refused.setdefault(f"{method.upper()} {path}", set()).add(
                    refusal.get("type") or refusal["code"]
                )
            names = {p["name"] for p in entry.get("parameters", []) if p["in"] == "query"}
            if "cursor" in names:
                assert "bad_request" in refused[f"{method.upper()} {path}"], (method, path)
    assert refused[f"POST {API}/auth/register"] == {"weak_password"}
    assert refused[f"POST {API}/me/password"] == {"weak_password"}
    assert refused[f"POST {API}/uploads"] == {"upload_rejected"}
    assert refused[f"PATCH {API}/me/preferences"] == {"value_error"}
    assert "unknown_model" in refused[f"POST {API}/jobs"]


@pytest.mark.parametrize("path", ["/uploads", "/me/avatar"])
async def test_an_upload_form_takes_only_its_fields(
    client: httpx.AsyncClient, ctx: HubContext, path: str
) -> None:
    schema = (await document(client))["paths"][f"{API}{path}"]["post"]["requestBody"]
    form = schema["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert (await document(client))["components"]["schemas"][form]["additionalProperties"] is False
    user = await create_test_user(ctx, "uploader", "Uploader")
    files = {"file": ("a.png", image_bytes(), "image/png")}
    response = await client.post(
        f"{API}{path}", files=files, data={"colour": "red"}, headers=user.headers
    )
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["details"]["fields"]
    assert [f["field"] for f in fields] == ["colour"]
    ok = await client.post(f"{API}{path}", files=files, headers=user.headers)
    assert ok.status_code in (200, 201), ok.text
