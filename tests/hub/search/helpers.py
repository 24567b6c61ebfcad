"""Documents for the search tests, indexed the way a domain indexes its rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from hub.db import Database
from hub.search import service
from hub.search.schemas import SearchQuery
from hub.search.service import DocKind, SearchDocument

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def doc(
    ref_id: str,
    title: str = "",
    body: str = "",
    *,
    kind: DocKind = DocKind.thread,
    owner_id: int | None = None,
    public: bool = True,
    minutes: int = 0,
    url: str | None = None,
    **extra: Any,
) -> SearchDocument:
    return SearchDocument(
        kind=kind,
        ref_id=ref_id,
        title=title,
        body=body,
        url=url or f"/{kind.value}/{ref_id}",
        owner_id=owner_id,
        public=public,
        created_at=T0 + timedelta(minutes=minutes),
        **extra,
    )


async def index(db: Database, *docs: SearchDocument) -> None:
    async with db.unit_of_work() as session:
        for one in docs:
            await service.index_document(session, one)


async def found(db: Database, viewer_id: int | None = None, **params: Any) -> list[str]:
    """The ref ids of the first page for ``viewer_id``."""
    async with db.unit_of_work() as session:
        page = await service.search(session, viewer_id, SearchQuery.model_validate(params))
    return [item.ref_id for item in page.items]


async def api_search(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = await client.get("/api/v1/search", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refs(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> list[str]:
    return [item["ref_id"] for item in (await api_search(client, headers, **params))["items"]]


async def every_page(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> list[str]:
    """The ref ids of every page, following next_cursor to the end."""
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        body = await api_search(client, headers, **params, **({"cursor": cursor} if cursor else {}))
        seen.extend(item["ref_id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")
