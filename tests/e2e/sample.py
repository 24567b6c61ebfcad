"""A small hub with one of everything a page shows, made through the HTTP API as people would:
two people, a public room, a published work (from an upload) with its discussion thread and a
comment, a forum thread, a library prompt, and notifications. Shared by the browser tests and
``make screenshots`` (tools/screenshots.py)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from PIL import Image, ImageDraw
from sqlalchemy import update

from hub.accounts.models import User
from hub.context import HubContext
from tests.e2e.helpers import as_user, sign_up


@dataclass(frozen=True)
class Sample:
    alice_cookie: str
    bob_cookie: str
    room_url: str
    artwork_url: str
    thread_url: str
    prompt_url: str
    work_title: str


def picture(size: tuple[int, int] = (480, 360)) -> bytes:
    """A PNG with some shapes (a flat square would make a dull screenshot)."""
    image = Image.new("RGB", size, (24, 38, 92))
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.ellipse((width * 0.55, height * 0.1, width * 0.85, height * 0.5), fill=(250, 205, 90))
    draw.rectangle((0, height * 0.7, width, height), fill=(12, 70, 110))
    draw.polygon(
        [(width * 0.1, height * 0.7), (width * 0.3, height * 0.3), (width * 0.5, height * 0.7)],
        fill=(200, 80, 70),
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


async def _old_enough(ctx: HubContext, *usernames: str) -> None:
    # New accounts have tighter limits (works, threads); these are a year old.
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(User)
            .where(User.username.in_(usernames))  # type: ignore[attr-defined]
            .values(created_at=datetime(2025, 12, 1, tzinfo=UTC))
        )


async def _ok(response: httpx.Response, status: int = 201) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    return body


async def make_sample(origin: str, ctx: HubContext, title: str = "Harbour lights") -> Sample:
    """The sample on the hub at ``origin``."""
    async with httpx.AsyncClient(base_url=origin, headers={"origin": origin}) as http:
        return await fill_sample(http, ctx, title)


async def fill_sample(
    http: httpx.AsyncClient, ctx: HubContext, title: str = "Harbour lights"
) -> Sample:
    """The sample through ``http`` (a client of the hub whose cookies it may clear)."""
    alice_cookie, alice_csrf = await sign_up(http, "alice", "Alice")
    http.cookies.clear()
    bob_cookie, bob_csrf = await sign_up(http, "bob", "Bob 鲍勃")
    http.cookies.clear()
    await _old_enough(ctx, "alice", "bob")
    alice = as_user(alice_cookie, alice_csrf)
    bob = as_user(bob_cookie, bob_csrf)
    room = await _ok(
        await http.post(
            "/api/v1/rooms",
            json={"title": "Night harbour", "visibility": "public"},
            headers=alice,
        )
    )
    files = {"file": ("harbour.png", picture(), "image/png")}
    upload = await _ok(await http.post("/api/v1/uploads", files=files, headers=alice))
    work = await _ok(
        await http.post(
            "/api/v1/works",
            json={
                "uploads": [
                    {"upload_id": upload["upload_id"], "prompt": "a harbour at night, lanterns"}
                ],
                "title": title,
                "description": "Lanterns over the water.",
                "status": "published",
                "category": "showcase",
            },
            headers=alice,
        )
    )
    work_view = await _ok(await http.get(f"/api/v1/works/{work['id']}"), 200)
    await _ok(await http.put(f"/api/v1/works/{work['id']}/like", headers=bob), 200)
    thread = await _ok(
        await http.post(
            "/api/v1/threads",
            json={
                "category": "general",
                "title": "Favourite samplers?",
                "body": "Which sampler do you use for **night** scenes?",
            },
            headers=alice,
        )
    )
    await _ok(
        await http.post(
            f"/api/v1/threads/{thread['thread_id']}/comments",
            json={"body": "Euler a, 30 steps. @alice try it!"},
            headers=bob,
        )
    )
    prompt = await _ok(
        await http.post(
            "/api/v1/prompts",
            json={
                "title": "Lantern harbour",
                "body": "a {subject} at night, {style=watercolor}",
                "visibility": "public",
                "tags": ["night"],
            },
            headers=alice,
        )
    )
    return Sample(
        alice_cookie=alice_cookie,
        bob_cookie=bob_cookie,
        room_url=f"/r/{room['slug']}",
        artwork_url=str(work_view["url"]),
        thread_url=str(thread["url"]),
        prompt_url=f"/prompts/{prompt['id']}",
        work_title=title,
    )
