"""Deeply nested JSON from clients is refused with the error shape (HTTP) or a close code
(sockets), never a RecursionError, a 500 or a logged traceback (issue #8, point 3)."""

from __future__ import annotations

import asyncio
import base64
import logging

import httpx
import pytest

from hub.context import HubContext
from rooms.jsontext import MAX_JSON_DEPTH
from rooms.protocol import encode_awareness, write_var_string, write_var_uint
from tests.hub.collab.conftest import create_room, create_test_user
from tests.hub.collab.helpers import events_url, http, hub_ctx, yjs_url
from tests.live import LiveServer
from tests.rooms.ykit import EventClient, open_ws

API = "/api/v1"
DEEP_ARRAY = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
# Just inside the limit: parsed, then refused by the schema (422), so the limit is not too low.
LIMIT_ARRAY = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
JSON = {"content-type": "application/json"}


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("payload", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
async def test_deep_json_bodies_are_400_on_every_route(
    live_server: LiveServer, payload: str, caplog: pytest.LogCaptureFixture
) -> None:
    user = await create_test_user(hub_ctx(live_server), "deepa", "Deep")
    async with http(live_server) as api:
        slug = (await create_room(api, user))["slug"]
        calls = [
            ("POST", f"{API}/auth/login", {}),
            ("POST", f"{API}/auth/register", {}),
            ("PATCH", f"{API}/me", user.headers),
            ("POST", f"{API}/rooms", user.headers),
            ("POST", f"{API}/jobs", user.headers),
            ("POST", f"{API}/rooms/{slug}/jobs", user.headers),
        ]
        for method, path, headers in calls:
            response = await api.request(method, path, content=payload, headers={**JSON, **headers})
            assert response.status_code == 400, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_json", (path, error)
            assert error["details"] == {"max_depth": MAX_JSON_DEPTH}
        inside = await api.post(f"{API}/auth/login", content=LIMIT_ARRAY, headers=JSON)
        assert inside.status_code == 400
        assert inside.json()["error"]["message"] == "The request body must be a JSON object."
    assert no_tracebacks(caplog) == []


async def test_deep_json_in_a_cursor_is_400(
    client: httpx.AsyncClient, ctx: HubContext, caplog: pytest.LogCaptureFixture
) -> None:
    user = await create_test_user(ctx, "cursor", "Cursor")
    cursor = base64.urlsafe_b64encode(DEEP_ARRAY.encode()).decode().rstrip("=")
    response = await client.get(f"{API}/me/tokens", params={"cursor": cursor}, headers=user.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"
    assert no_tracebacks(caplog) == []


async def test_deep_json_on_the_event_stream_closes_1003(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    user = await create_test_user(hub_ctx(live_server), "streamer", "Streamer")
    async with http(live_server) as api:
        slug = (await create_room(api, user))["slug"]
    for payload in (DEEP_ARRAY, '{"type":"chat.send","data":' + DEEP_OBJECT + "}"):
        events = await EventClient.open(events_url(live_server, slug, user))
        await events.wait_for("welcome")
        await events.send(payload)
        assert await events.wait_closed() == 1003
        (error,) = events.of_type("error")
        assert error["code"] == "invalid_json"
    # the socket path still works for a sane message
    events = await EventClient.open(events_url(live_server, slug, user))
    await events.wait_for("welcome")
    await events.send({"type": "chat.send", "data": {"text": "still here"}})
    await events.wait_for("chat.message")
    await events.ws.close()
    assert no_tracebacks(caplog) == []


async def test_deep_json_in_an_awareness_state_closes_1002(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    user = await create_test_user(hub_ctx(live_server), "aware", "Aware")
    async with http(live_server) as api:
        slug = (await create_room(api, user))["slug"]
    ws = await open_ws(yjs_url(live_server, slug, user))
    state = '{"user":' + DEEP_OBJECT + "}"
    update = write_var_uint(1) + write_var_uint(42) + write_var_uint(1) + write_var_string(state)
    await ws.send(encode_awareness(update))
    await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 1002
    assert no_tracebacks(caplog) == []
