"""Helpers for the library, upload and cleanup tests: users with bearer tokens, image bytes,
and generated images saved the way the generation worker saves them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from PIL import Image as PILImage
from sqlalchemy import func, select, update
from sqlmodel import col

from hub.storage import keys, service
from hub.storage.models import Image, Upload
from hub.storage.schemas import ImageView
from tests.hub.accounts.helpers import bearer, register, token_pair


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    headers: dict[str, str]


async def new_user(client: httpx.AsyncClient, username: str) -> User:
    response = await register(client, username)
    assert response.status_code == 201, response.text
    client.cookies.clear()  # the API tests authenticate with bearer tokens only
    pair = await token_pair(client, username)
    headers = bearer(pair["access_token"])
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    return User(int(me.json()["user_id"]), username, headers)


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


async def save_image(
    ctx: Any,
    owner: User,
    *,
    prompt: str = "a red fox in the snow",
    model: str = "offline",
    room_id: str | None = None,
    job_id: str | None = None,
    index: int = 0,
    seed: int = 7,
    params: dict[str, Any] | None = None,
    data: bytes | None = None,
) -> ImageView:
    async with ctx.db.unit_of_work() as session:
        return await service.save_generated_image(
            session,
            ctx.storage,
            owner_id=owner.user_id,
            job_id=job_id or keys.new_media_id(),
            room_id=room_id,
            index=index,
            data=data or image_bytes(),
            mime="image/png",
            width=64,
            height=48,
            seed=seed,
            model=model,
            prompt=prompt,
            negative_prompt="blurry",
            params=params if params is not None else {"steps": 4},
        )


async def image_row(ctx: Any, image_id: str) -> Image | None:
    async with ctx.db.unit_of_work() as session:
        row: Image | None = await session.get(Image, image_id)
        return row


async def set_created_at(ctx: Any, image_id: str, moment: datetime) -> None:
    async with ctx.db.unit_of_work() as session:
        await session.execute(
            update(Image).where(col(Image.image_id) == image_id).values(created_at=moment)
        )


async def upload_count(ctx: Any) -> int:
    async with ctx.db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(Upload)) or 0)


async def stored_keys(ctx: Any, prefix: str = "") -> list[str]:
    return [key async for key in ctx.storage.list_keys(prefix)]
