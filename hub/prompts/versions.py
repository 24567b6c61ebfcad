"""A template's versions: list them, read one, diff two, restore one as the newest.

Whoever may see a template may see its versions; only its author restores (a restore is an edit:
it makes a new version holding the old one's fields, ``restored_from`` saying which).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.deps import Actor
from hub.accounts.trust import CommunityAction, hit_community_limit
from hub.accounts.users import get_users
from hub.errors import BadRequest
from hub.pagination import decode_cursor, encode_cursor
from hub.prompts.errors import VersionNotFound
from hub.prompts.models import PromptVersion
from hub.prompts.schemas import (
    ChangeOut,
    DiffOut,
    DiffPieceOut,
    PromptCreated,
    VersionListQuery,
    VersionOut,
    VersionPage,
)
from hub.prompts.service import (
    INT32_MAX,
    VERSIONED,
    VERSIONS,
    access_own_prompt,
    access_prompt,
    user_ref,
    write_version,
)
from hub.prompts.textdiff import word_diff
from hub.ratelimit import RateLimiter

if TYPE_CHECKING:
    from hub.prompts.index import PromptIndex


def _version(row: Any) -> PromptVersion:
    return PromptVersion(**row._mapping)


async def _get(session: AsyncSession, prompt_id: int, version: int) -> PromptVersion:
    if not 0 < version <= INT32_MAX:
        raise VersionNotFound()
    stmt = select(VERSIONS).where(VERSIONS.c.prompt_id == prompt_id, VERSIONS.c.version == version)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise VersionNotFound()
    return _version(row)


async def _views(session: AsyncSession, rows: list[PromptVersion]) -> list[VersionOut]:
    users = await get_users(session, [r.editor_id for r in rows if r.editor_id is not None])
    return [
        VersionOut(
            version=row.version,
            title=row.title,
            body=row.body,
            negative_prompt=row.negative_prompt,
            category=row.category,
            tags=list(row.tags or []),
            params=dict(row.params or {}),
            editor=user_ref(users, row.editor_id),
            restored_from=row.restored_from,
            created_at=row.created_at,
        )
        for row in rows
    ]


async def list_versions(
    session: AsyncSession, actor: Actor | None, prompt_id: int, *, query: VersionListQuery
) -> VersionPage:
    """Newest first, cursor-paged on ``(created_at, version)``."""
    await access_prompt(session, actor, prompt_id)
    v = VERSIONS.c
    stmt = select(VERSIONS).where(v.prompt_id == prompt_id)
    if query.cursor is not None:
        created, number = decode_cursor(query.cursor)
        if not isinstance(number, int) or isinstance(number, bool) or created.tzinfo is None:
            raise BadRequest("The cursor is not valid; start again without it.")
        stmt = stmt.where(
            or_(v.created_at < created, and_(v.created_at == created, v.version < number))
        )
    stmt = stmt.order_by(v.created_at.desc(), v.version.desc()).limit(query.limit + 1)
    rows = [_version(r) for r in (await session.execute(stmt)).all()]
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].version) if more else None
    return VersionPage(items=await _views(session, rows), next_cursor=next_cursor)


async def read_version(
    session: AsyncSession, actor: Actor | None, prompt_id: int, version: int
) -> VersionOut:
    await access_prompt(session, actor, prompt_id)
    return (await _views(session, [await _get(session, prompt_id, version)]))[0]


def _pieces(before: str, after: str) -> list[DiffPieceOut]:
    return [DiffPieceOut(op=p.op, text=p.text) for p in word_diff(before, after)]


def _change(before: Any, after: Any) -> ChangeOut | None:
    return None if before == after else ChangeOut(before=before, after=after)


async def diff_versions(
    session: AsyncSession, actor: Actor | None, prompt_id: int, *, old: int, new: int
) -> DiffOut:
    """What changed from version ``old`` to version ``new``: title, body and negative prompt
    word by word (a CJK character counts as a word), tags added and removed, category and
    params before and after."""
    await access_prompt(session, actor, prompt_id)
    a, b = await _get(session, prompt_id, old), await _get(session, prompt_id, new)
    old_tags, new_tags = list(a.tags or []), list(b.tags or [])
    return DiffOut(
        from_version=old,
        to_version=new,
        title=_pieces(a.title, b.title),
        body=_pieces(a.body, b.body),
        negative_prompt=_pieces(a.negative_prompt, b.negative_prompt),
        tags_added=[t for t in new_tags if t not in old_tags],
        tags_removed=[t for t in old_tags if t not in new_tags],
        category=_change(a.category, b.category),
        params=_change(dict(a.params or {}), dict(b.params or {})),
    )


async def restore_version(
    session: AsyncSession,
    actor: Actor,
    prompt_id: int,
    version: int,
    *,
    limiter: RateLimiter | None,
    index: PromptIndex | None = None,
) -> PromptCreated:
    """The author makes version ``version`` the newest again, as a new version."""
    row = await access_own_prompt(session, actor, prompt_id)
    old = await _get(session, prompt_id, version)
    if limiter is not None:
        await hit_community_limit(session, actor, limiter, CommunityAction.prompt)
    changes = {name: getattr(old, name) for name in VERSIONED}
    return await write_version(session, actor, row, changes, restored_from=version, index=index)
