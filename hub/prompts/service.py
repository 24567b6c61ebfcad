"""The prompt library's rules: who sees and changes a template, writing versions, soft delete,
favorites, the official mark, and the API view of a template.

Every write of a template's fields is one ``UPDATE ... SET version = version + 1 ... RETURNING``
on its row plus one ``prompt_versions`` row with what it returned: concurrent edits get
consecutive version numbers (Postgres: the second waits on the first's row lock; SQLite: one
writer at a time) and each version holds exactly the fields it made. Counters move the same way
(``usage_count + 1``). Services flush and never commit; the suggestion index learns of a change
after the commit (``index``), the search engine in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.deps import Actor
from hub.accounts.roles import UserRole, require_role
from hub.accounts.trust import CommunityAction, hit_community_limit
from hub.accounts.users import get_users
from hub.audit import service as audit
from hub.db import utcnow
from hub.errors import Conflict, ValidationFailed
from hub.outbox import after_commit
from hub.prompts.errors import NotPromptAuthor, PromptNotFound
from hub.prompts.indexing import index_prompt, unindex_prompt
from hub.prompts.models import (
    PromptFavorite,
    PromptTag,
    PromptTemplate,
    PromptVersion,
    PromptVisibility,
)
from hub.prompts.schemas import (
    FavoriteOut,
    PromptCreated,
    PromptCreateIn,
    PromptOut,
    UserRef,
    VariableOut,
)
from hub.prompts.variables import VariableError, variables
from hub.ratelimit import RateLimiter

if TYPE_CHECKING:
    from hub.prompts.index import PromptIndex

TEMPLATES: Table = PromptTemplate.metadata.tables[PromptTemplate.__tablename__]
VERSIONS: Table = PromptVersion.metadata.tables[PromptVersion.__tablename__]
TAGS: Table = PromptTag.metadata.tables[PromptTag.__tablename__]
FAVORITES: Table = PromptFavorite.metadata.tables[PromptFavorite.__tablename__]
INT32_MAX = 2**31 - 1
# The fields a version holds (and an edit or a restore may change).
VERSIONED = ("title", "body", "negative_prompt", "category", "tags", "params")


def as_template(mapping: Any) -> PromptTemplate:
    return PromptTemplate(**mapping._mapping)


def check_variables(body: str, negative: str) -> None:
    """422 naming the body when its variables contradict each other (two defaults for one
    name, more than the limit)."""
    try:
        variables(body, negative)
    except VariableError as exc:
        raise ValidationFailed(
            f"The template's variables are not valid: {exc}.",
            fields=[{"field": "body", "message": str(exc), "type": "variables"}],
        ) from None


# --- access ---------------------------------------------------------------------------------------


async def get_template(session: AsyncSession, prompt_id: int) -> PromptTemplate | None:
    """The row, deleted or not, without a permission check (tests, the index)."""
    if not 0 < prompt_id <= INT32_MAX:
        return None
    row = (
        await session.execute(select(TEMPLATES).where(TEMPLATES.c.prompt_id == prompt_id))
    ).first()
    return as_template(row) if row is not None else None


def can_see(row: PromptTemplate, actor: Actor | None) -> bool:
    if row.deleted_at is not None:
        return False
    return row.visibility == PromptVisibility.public or (
        actor is not None and actor.user_id == row.author_id
    )


async def access_prompt(
    session: AsyncSession, actor: Actor | None, prompt_id: int
) -> PromptTemplate:
    """The template if ``actor`` may see it: public, or theirs; PromptNotFound (404) otherwise,
    the same answer for a missing, deleted or someone else's private template."""
    row = await get_template(session, prompt_id)
    if row is None or not can_see(row, actor):
        raise PromptNotFound()
    return row


async def access_own_prompt(session: AsyncSession, actor: Actor, prompt_id: int) -> PromptTemplate:
    """The template if ``actor`` wrote it (404 when they may not see it, 403 when they may see
    it but not change it)."""
    row = await access_prompt(session, actor, prompt_id)
    if row.author_id != actor.user_id:
        raise NotPromptAuthor()
    return row


# --- writes --------------------------------------------------------------------------------------


def _after_change(session: AsyncSession, index: PromptIndex | None) -> None:
    if index is not None:
        after_commit(session, index.refresh)


async def _replace_tags(session: AsyncSession, prompt_id: int, tags: Iterable[str]) -> None:
    await session.execute(delete(TAGS).where(TAGS.c.prompt_id == prompt_id))
    rows = [{"prompt_id": prompt_id, "tag": tag} for tag in dict.fromkeys(tags)]
    if rows:
        await session.execute(insert(TAGS), rows)


async def _add_version(
    session: AsyncSession, row: PromptTemplate, editor_id: int, restored_from: int | None
) -> None:
    fields = {name: getattr(row, name) for name in VERSIONED}
    await session.execute(
        insert(VERSIONS).values(
            prompt_id=row.prompt_id,
            version=row.version,
            editor_id=editor_id,
            restored_from=restored_from,
            created_at=row.updated_at,
            **fields,
        )
    )


async def create_prompt(
    session: AsyncSession,
    actor: Actor,
    *,
    data: PromptCreateIn,
    limiter: RateLimiter | None,
    index: PromptIndex | None = None,
) -> PromptCreated:
    """A new template at version 1 (``HUB_RATE_LIMIT_PROMPT`` per user; ``limiter`` None: the
    caller limits)."""
    check_variables(data.body, data.negative_prompt)
    if limiter is not None:
        await hit_community_limit(session, actor, limiter, CommunityAction.prompt)
    now = utcnow()
    tags = list(dict.fromkeys(data.tags))
    result = await session.execute(
        insert(TEMPLATES)
        .values(
            author_id=actor.user_id,
            title=data.title,
            body=data.body,
            negative_prompt=data.negative_prompt,
            category=data.category,
            tags=tags,
            params=data.params.as_dict(),
            visibility=data.visibility,
            official=False,
            version=1,
            usage_count=0,
            favorite_count=0,
            created_at=now,
            updated_at=now,
            touched_at=now,
        )
        .returning(*TEMPLATES.c)
    )
    row = as_template(result.one())
    await _add_version(session, row, actor.user_id, None)
    await _replace_tags(session, _id(row), tags)
    await index_prompt(session, row)
    _after_change(session, index)
    return PromptCreated(id=_id(row), version=1)


def _id(row: PromptTemplate) -> int:
    if row.prompt_id is None:  # pragma: no cover - rows come from the database
        raise RuntimeError("prompt row without an id")
    return row.prompt_id


def _differs(row: PromptTemplate, changes: Mapping[str, Any]) -> bool:
    return any(getattr(row, name) != value for name, value in changes.items())


async def write_version(
    session: AsyncSession,
    actor: Actor,
    row: PromptTemplate,
    changes: Mapping[str, Any],
    *,
    restored_from: int | None = None,
    index: PromptIndex | None = None,
) -> PromptCreated:
    """Apply ``changes`` (fields of :data:`VERSIONED` and ``visibility``) to ``row`` as a new
    version; nothing changes and no version is made when every value is the current one."""
    if "tags" in changes:
        changes = {**changes, "tags": list(dict.fromkeys(changes["tags"]))}
    if not _differs(row, changes) and restored_from is None:
        return PromptCreated(id=_id(row), version=row.version)
    body = changes.get("body", row.body)
    check_variables(body, changes.get("negative_prompt", row.negative_prompt))
    values = dict(changes)
    if values.get("visibility") == PromptVisibility.private:
        values["official"] = False  # official templates are public ones
    now = utcnow()
    result = await session.execute(
        update(TEMPLATES)
        .where(TEMPLATES.c.prompt_id == _id(row), TEMPLATES.c.deleted_at.is_(None))
        .values(version=TEMPLATES.c.version + 1, updated_at=now, touched_at=now, **values)
        .returning(*TEMPLATES.c)
    )
    found = result.first()
    if found is None:  # deleted meanwhile
        raise PromptNotFound()
    written = as_template(found)
    await _add_version(session, written, actor.user_id, restored_from)
    if "tags" in changes:
        await _replace_tags(session, _id(written), written.tags)
    await index_prompt(session, written)
    _after_change(session, index)
    return PromptCreated(id=_id(written), version=written.version)


async def update_prompt(
    session: AsyncSession,
    actor: Actor,
    prompt_id: int,
    *,
    changes: Mapping[str, Any],
    limiter: RateLimiter | None,
    index: PromptIndex | None = None,
) -> PromptCreated:
    """The author edits the template: a new version (404 / 403 for others)."""
    row = await access_own_prompt(session, actor, prompt_id)
    if limiter is not None:
        await hit_community_limit(session, actor, limiter, CommunityAction.prompt)
    return await write_version(session, actor, row, changes, index=index)


async def delete_prompt(
    session: AsyncSession, actor: Actor, prompt_id: int, *, index: PromptIndex | None = None
) -> None:
    """Soft delete by the author or a moderator: the template and its versions disappear for
    everyone (404), and from lists, search and suggestions. Idempotent for the author."""
    row = await access_prompt(session, actor, prompt_id)
    if row.author_id != actor.user_id:
        require_role(actor, UserRole.MODERATOR, to="delete other people's prompts")
    now = utcnow()
    await session.execute(
        update(TEMPLATES)
        .where(TEMPLATES.c.prompt_id == prompt_id, TEMPLATES.c.deleted_at.is_(None))
        .values(deleted_at=now, touched_at=now)
    )
    await unindex_prompt(session, prompt_id)
    _after_change(session, index)


async def count_use(session: AsyncSession, prompt_id: int) -> None:
    """One more use, exact under concurrency."""
    await session.execute(
        update(TEMPLATES)
        .where(TEMPLATES.c.prompt_id == prompt_id)
        .values(usage_count=TEMPLATES.c.usage_count + 1, touched_at=utcnow())
    )


# --- favorites and the official mark -------------------------------------------------------------


def _insert_ignore(session: AsyncSession, table: Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


async def _move_favorites(session: AsyncSession, prompt_id: int, by: int) -> int:
    result = await session.execute(
        update(TEMPLATES)
        .where(TEMPLATES.c.prompt_id == prompt_id)
        .values(favorite_count=TEMPLATES.c.favorite_count + by, touched_at=utcnow())
        .returning(TEMPLATES.c.favorite_count)
    )
    return int(result.scalar_one())


async def set_favorite(
    session: AsyncSession,
    actor: Actor,
    prompt_id: int,
    *,
    on: bool,
    limiter: RateLimiter | None,
    index: PromptIndex | None = None,
) -> FavoriteOut:
    """Favorite (``on``) or unfavorite a template you may see. Idempotent; the count moves only
    when the favorite row was really added or removed, so it stays exact."""
    await access_prompt(session, actor, prompt_id)
    if limiter is not None:
        await hit_community_limit(session, actor, limiter, CommunityAction.reaction)
    key = {"user_id": actor.user_id, "prompt_id": prompt_id}
    if on:
        stmt = _insert_ignore(session, FAVORITES).values(**key, created_at=utcnow())
        changed = (await session.execute(stmt)).rowcount == 1  # type: ignore[attr-defined]
    else:
        stmt = delete(FAVORITES).where(
            FAVORITES.c.user_id == actor.user_id, FAVORITES.c.prompt_id == prompt_id
        )
        changed = (await session.execute(stmt)).rowcount == 1  # type: ignore[attr-defined]
    if changed:
        count = await _move_favorites(session, prompt_id, 1 if on else -1)
        _after_change(session, index)
    else:
        count = await _favorite_count(session, prompt_id)
    return FavoriteOut(prompt_id=prompt_id, favorited=on, favorite_count=count)


async def _favorite_count(session: AsyncSession, prompt_id: int) -> int:
    stmt = select(TEMPLATES.c.favorite_count).where(TEMPLATES.c.prompt_id == prompt_id)
    return int((await session.execute(stmt)).scalar_one())


async def favorited_ids(
    session: AsyncSession, actor: Actor | None, prompt_ids: Iterable[int]
) -> set[int]:
    wanted = sorted(set(prompt_ids))
    if actor is None or not wanted:
        return set()
    stmt = select(FAVORITES.c.prompt_id).where(
        FAVORITES.c.user_id == actor.user_id, FAVORITES.c.prompt_id.in_(wanted)
    )
    return set((await session.execute(stmt)).scalars())


async def set_official(
    session: AsyncSession,
    actor: Actor,
    prompt_id: int,
    *,
    on: bool,
    index: PromptIndex | None = None,
) -> PromptOut:
    """Admins mark a public template official (or unmark it); 409 for a private one."""
    require_role(actor, UserRole.ADMIN, to="curate official prompts")
    row = await get_template(session, prompt_id)
    if row is None or row.deleted_at is not None:
        raise PromptNotFound()
    if on and row.visibility != PromptVisibility.public:
        raise Conflict("Only public prompts can be official.")
    if row.official != on:
        await session.execute(
            update(TEMPLATES)
            .where(TEMPLATES.c.prompt_id == prompt_id)
            .values(official=on, touched_at=utcnow())
        )
        row.official = on
        _after_change(session, index)
        await audit.record(
            session,
            actor_id=actor.user_id,
            action="prompt.official",
            target_type="prompt",
            target_id=prompt_id,
            before={"official": not on},
            after={"official": on},
        )
    return (await prompt_views(session, actor, [row]))[0]


# --- views ---------------------------------------------------------------------------------------


def user_ref(users: Mapping[int, Any], user_id: int | None) -> UserRef | None:
    user = users.get(user_id) if user_id is not None else None
    if user is None:
        return None
    return UserRef(user_id=user.user_id, username=user.username, display_name=user.display_name)


def variables_out(row: PromptTemplate) -> list[VariableOut]:
    found = variables(row.body, row.negative_prompt)
    return [VariableOut(name=v.name, default=v.default) for v in found]


async def prompt_views(
    session: AsyncSession, actor: Actor | None, rows: list[PromptTemplate]
) -> list[PromptOut]:
    """API views of ``rows`` with their authors and your favorites, in two queries."""
    users = await get_users(session, [r.author_id for r in rows])
    favorites = await favorited_ids(session, actor, [_id(r) for r in rows])
    return [
        PromptOut(
            prompt_id=_id(row),
            title=row.title,
            body=row.body,
            negative_prompt=row.negative_prompt,
            category=row.category,
            tags=list(row.tags or []),
            params=dict(row.params or {}),
            variables=variables_out(row),
            visibility=row.visibility,  # type: ignore[arg-type]
            official=row.official,
            version=row.version,
            usage_count=row.usage_count,
            favorite_count=row.favorite_count,
            favorited=(_id(row) in favorites) if actor is not None else None,
            author=user_ref(users, row.author_id),
            created_at=row.created_at,
            updated_at=row.updated_at,
            url=f"/prompts/{_id(row)}",
        )
        for row in rows
    ]


async def read_prompt(session: AsyncSession, actor: Actor | None, prompt_id: int) -> PromptOut:
    row = await access_prompt(session, actor, prompt_id)
    return (await prompt_views(session, actor, [row]))[0]


async def prompts_by_author(session: AsyncSession, author_id: int) -> list[PromptTemplate]:
    """Every template of ``author_id`` that is not deleted, oldest first (``hub user export``)."""
    stmt = (
        select(TEMPLATES)
        .where(TEMPLATES.c.author_id == author_id, TEMPLATES.c.deleted_at.is_(None))
        .order_by(TEMPLATES.c.prompt_id)
    )
    return [as_template(row) for row in (await session.execute(stmt)).all()]
