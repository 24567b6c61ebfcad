"""What schemathesis found in the OpenAPI document, one case each, through HTTP (#8, point 8)."""

from __future__ import annotations

from typing import Any

import httpx

from hub.context import HubContext
from tests.hub.collab.conftest import create_room, create_test_user

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
