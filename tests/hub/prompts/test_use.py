"""Templates and rooms through HTTP: "use in a room" (new or existing, editors only), the usage
count, "save as prompt" from a room, and "apply a template's style"."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.prompts.helpers import create_prompt, document, join, make_room, person

STYLE = {
    "title": "Ink wash",
    "body": "{subject}, ink wash painting, {mood=calm} mood",
    "negative_prompt": "color, {flaw=text}",
    "params": {"steps": 24, "size": "768x512", "count": 2},
}


@BOTH_DATABASES
async def test_use_opens_a_room_seeded_from_the_template(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    prompt_id = await create_prompt(client, alice, **STYLE)
    response = await client.post(
        f"/api/v1/prompts/{prompt_id}/use",
        json={"variables": {"subject": "一只猫", "mood": "stormy"}},
        headers=bob,
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"room"}
    slug = response.json()["room"]
    doc = await document(client, slug, bob)
    assert doc["prompt"] == "一只猫, ink wash painting, stormy mood"
    assert doc["negative"] == "color, text"
    assert doc["params"]["steps"] == 24
    assert doc["params"]["size"] == "768x512"
    assert doc["params"]["count"] == 2
    room = (await client.get(f"/api/v1/rooms/{slug}", headers=bob)).json()
    assert (room["title"], room["my_role"], room["visibility"]) == ("Ink wash", "owner", "private")
    shown = (await client.get(f"/api/v1/prompts/{prompt_id}")).json()
    assert shown["usage_count"] == 1


@BOTH_DATABASES
async def test_use_fills_a_room_its_editors_edit(client: httpx.AsyncClient, db: Database) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    _carol, carol = await person(db, "carol")
    _dave, dave = await person(db, "dave")
    prompt_id = await create_prompt(client, alice, **STYLE)
    slug = await make_room(client, alice)
    await join(client, slug, alice, bob, "editor")
    await join(client, slug, alice, carol, "viewer")
    path = f"/api/v1/prompts/{prompt_id}/use"
    body: dict[str, Any] = {"variables": {"subject": "a fox"}, "room": slug}
    viewer = await client.post(path, json=body, headers=carol)
    assert viewer.status_code == 403
    stranger = await client.post(path, json=body, headers=dave)
    assert stranger.status_code == 404  # a private room is not there for others
    used = await client.post(path, json=body, headers=bob)
    assert used.json() == {"room": slug}
    doc = await document(client, slug, alice)
    assert doc["prompt"] == "a fox, ink wash painting, calm mood"
    assert doc["params"]["steps"] == 24
    assert doc["params"]["strength"] == 0.75  # the room's own parameters stay
    assert (await client.get(f"/api/v1/prompts/{prompt_id}")).json()["usage_count"] == 1
    await client.post(f"/api/v1/rooms/{slug}/close", headers=alice)
    closed = await client.post(path, json=body, headers=bob)
    assert closed.status_code == 409
    assert closed.json()["error"]["code"] == "room_closed"


@BOTH_DATABASES
async def test_every_use_counts_once_even_at_once(client: httpx.AsyncClient, db: Database) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice)
    slug = await make_room(client, alice)
    answers = await asyncio.gather(
        *(
            client.post(f"/api/v1/prompts/{prompt_id}/use", json={"room": slug}, headers=alice)
            for _ in range(10)
        )
    )
    assert [a.status_code for a in answers] == [200] * 10
    assert (await client.get(f"/api/v1/prompts/{prompt_id}")).json()["usage_count"] == 10
    assert (await document(client, slug, alice))["prompt"] == "a cat in the rain"


@pytest.mark.parametrize(
    ("variables", "field_type", "named"),
    [
        ({}, "missing_variable", "subject"),
        ({"subject": "fox", "colour": "red"}, "unknown_variable", "colour"),
        ({"subject": "x" * 500, "mood": "y" * 500, "flaw": "z"}, "prompt_too_long", None),
    ],
)
async def test_use_refuses_fillings_that_cannot_be_a_prompt(
    client: httpx.AsyncClient,
    db: Database,
    variables: dict[str, str],
    field_type: str,
    named: str | None,
) -> None:
    _alice, alice = await person(db, "alice")
    body_text = "{subject} " * 3 + "{mood=calm}" if field_type == "prompt_too_long" else None
    fields = {**STYLE, "body": body_text} if body_text else STYLE
    prompt_id = await create_prompt(client, alice, **fields)
    response = await client.post(
        f"/api/v1/prompts/{prompt_id}/use", json={"variables": variables}, headers=alice
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["fields"][0]["type"] == field_type
    if named is not None:
        assert named in error["message"]
    assert (await client.get(f"/api/v1/prompts/{prompt_id}")).json()["usage_count"] == 0
    rooms = (await client.get("/api/v1/rooms?scope=mine", headers=alice)).json()
    assert rooms["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"variables": {"subject": 5}},
        {"variables": {"9lives": "cat"}},
        {"variables": {"subject": "nul\x00"}},
        {"variables": None},
        {"room": None},
        {"room": "bad slug!"},
        {"roomz": "x"},
        {"variables": {f"v{n}": "x" for n in range(33)}},
    ],
)
async def test_use_refuses_bad_bodies(
    client: httpx.AsyncClient, db: Database, body: dict[str, Any]
) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice)
    response = await client.post(f"/api/v1/prompts/{prompt_id}/use", json=body, headers=alice)
    assert response.status_code == 422, response.text


async def test_use_of_an_unknown_room_is_404(client: httpx.AsyncClient, db: Database) -> None:
    _alice, alice = await person(db, "alice")
    prompt_id = await create_prompt(client, alice)
    response = await client.post(
        f"/api/v1/prompts/{prompt_id}/use", json={"room": "no-such-room"}, headers=alice
    )
    assert response.status_code == 404
    missing = await client.post("/api/v1/prompts/999/use", json={}, headers=alice)
    assert missing.status_code == 404


@BOTH_DATABASES
async def test_save_as_prompt_takes_the_rooms_prompt_and_params(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    _bob, bob = await person(db, "bob")
    _carol, carol = await person(db, "carol")
    source = await create_prompt(client, alice, **STYLE)
    slug = (
        await client.post(
            f"/api/v1/prompts/{source}/use",
            json={"variables": {"subject": "a heron"}},
            headers=alice,
        )
    ).json()["room"]
    await join(client, slug, alice, bob, "viewer")
    body = {"room": slug, "title": "Heron", "tags": ["Birds"], "visibility": "private"}
    refused = await client.post("/api/v1/prompts/from-room", json=body, headers=carol)
    assert refused.status_code == 404
    saved = await client.post("/api/v1/prompts/from-room", json=body, headers=bob)
    assert saved.status_code == 201, saved.text
    template = (await client.get(f"/api/v1/prompts/{saved.json()['id']}", headers=bob)).json()
    assert template["body"] == "a heron, ink wash painting, calm mood"
    assert template["negative_prompt"] == "color, text"
    assert template["params"] == {
        "size": "768x512",
        "steps": 24,
        "count": 2,
        "strength": 0.75,
    }
    assert (template["author"]["username"], template["tags"]) == ("bob", ["birds"])


async def test_save_as_prompt_refuses_an_empty_room(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    slug = await make_room(client, alice)
    body = {"room": slug, "title": "Nothing", "visibility": "public"}
    response = await client.post("/api/v1/prompts/from-room", json=body, headers=alice)
    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "body"
    for bad in (
        {"room": slug, "title": "t"},
        {"room": slug, "title": "", "visibility": "public"},
        {"room": "a b", "title": "t", "visibility": "public"},
        {"title": "t", "visibility": "public"},
    ):
        response = await client.post("/api/v1/prompts/from-room", json=bad, headers=alice)
        assert response.status_code == 422, bad


@BOTH_DATABASES
async def test_apply_wraps_the_prompt_in_the_templates_style(
    client: httpx.AsyncClient, db: Database
) -> None:
    _alice, alice = await person(db, "alice")
    style = await create_prompt(client, alice, **STYLE)
    plain = await create_prompt(client, alice, title="Plain", body="studio lighting, 85mm")
    chinese = await create_prompt(
        client, alice, title="水墨", body="{主体=山}\uff0c水墨画\uff0c{留白=大量}留白"
    )
    applied = await client.post(f"/api/v1/prompts/{style}/apply", json={"prompt": " a red fox "})
    assert applied.json() == {
        "prompt": "a red fox, ink wash painting, calm mood",
        "negative_prompt": "color, text",
    }
    with_mood = await client.post(
        f"/api/v1/prompts/{style}/apply", json={"prompt": "a fox", "variables": {"mood": "dark"}}
    )
    assert with_mood.json()["prompt"] == "a fox, ink wash painting, dark mood"
    appended = await client.post(f"/api/v1/prompts/{plain}/apply", json={"prompt": "a fox"})
    assert appended.json()["prompt"] == "a fox, studio lighting, 85mm"
    zh = await client.post(f"/api/v1/prompts/{chinese}/apply", json={"prompt": "一只鹤"})
    assert zh.json()["prompt"] == "一只鹤\uff0c水墨画\uff0c大量留白"
    for bad in (
        {"prompt": 5},
        {},
        {"prompt": "x" * 2001},
        {"prompt": "a", "variables": {"x": "1"}},
    ):
        response = await client.post(f"/api/v1/prompts/{style}/apply", json=bad)
        assert response.status_code == 422, bad
