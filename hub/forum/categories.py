"""Forum categories: seeded with :data:`DEFAULT_CATEGORIES` by migration 0010, then managed by
admins (``/api/v1/admin/categories``). A slug never changes: URLs and ``works.category`` keep it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.actor import Actor
from hub.accounts.roles import UserRole, require_role
from hub.audit import service as audit
from hub.db import utcnow
from hub.forum.errors import CategoryExists, CategoryInUse, CategoryNotFound
from hub.forum.models import Category, Thread
from hub.forum.schemas import CategoryIn, CategoryOut, CategoryPatchIn

# (slug, name, description, position): what a new hub starts with. Migration 0010 inserts a copy
# of these; tests that empty the database put them back with seed_default_categories().
DEFAULT_CATEGORIES: tuple[tuple[str, str, str, int], ...] = (
    ("general", "General", "Anything about making images together.", 0),
    ("showcase", "Showcase", "Works published from rooms, and what people say about them.", 1),
    ("prompts", "Prompt craft", "Prompts, parameters and models: what works and why.", 2),
    ("feedback", "Feedback", "Ideas, questions and bugs about the hub itself.", 3),
)


_TABLE: Any = Category.__table__  # type: ignore[attr-defined]


def _insert(session: AsyncSession) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(_TABLE)


def category_url(slug: str) -> str:
    return f"/forum/{slug}"


def _out(category: Category, thread_count: int) -> CategoryOut:
    return CategoryOut(
        slug=category.slug,
        name=category.name,
        description=category.description,
        position=category.position,
        thread_count=thread_count,
        url=category_url(category.slug),
    )


async def seed_default_categories(session: AsyncSession) -> int:
    """Inserts the default categories that are missing (by slug); returns how many. Idempotent,
    and safe when two processes run it at once (ON CONFLICT DO NOTHING)."""
    now = utcnow()
    rows = [
        {
            "slug": slug,
            "name": name,
            "description": description,
            "position": position,
            "created_at": now,
            "updated_at": now,
        }
        for slug, name, description, position in DEFAULT_CATEGORIES
    ]
    stmt = _insert(session).values(rows).on_conflict_do_nothing().returning(_TABLE.c.slug)
    return len((await session.execute(stmt)).all())


async def get_category(session: AsyncSession, slug: str) -> Category | None:
    return await session.scalar(select(Category).where(col(Category.slug) == slug))


async def access_category(session: AsyncSession, slug: str) -> Category:
    category = await get_category(session, slug)
    if category is None:
        raise CategoryNotFound()
    return category


async def category_slugs(session: AsyncSession) -> list[str]:
    """Every category's slug, in display order (for forms and filters of other domains)."""
    stmt = select(col(Category.slug)).order_by(col(Category.position), col(Category.category_id))
    return list(await session.scalars(stmt))


async def _thread_counts(session: AsyncSession) -> dict[int, int]:
    stmt = (
        select(col(Thread.category_id), func.count())
        .where(col(Thread.deleted_at).is_(None), col(Thread.hidden_at).is_(None))
        .group_by(col(Thread.category_id))
    )
    return {category_id: count for category_id, count in (await session.execute(stmt)).all()}


async def list_categories(session: AsyncSession) -> list[CategoryOut]:
    """The categories in display order, with their thread counts."""
    stmt = select(Category).order_by(col(Category.position), col(Category.category_id))
    categories = list(await session.scalars(stmt))
    counts = await _thread_counts(session)
    return [_out(c, counts.get(c.category_id or 0, 0)) for c in categories]


async def read_category(session: AsyncSession, slug: str) -> CategoryOut:
    category = await access_category(session, slug)
    count = await session.scalar(
        select(func.count()).where(
            col(Thread.category_id) == category.category_id,
            col(Thread.deleted_at).is_(None),
            col(Thread.hidden_at).is_(None),
        )
    )
    return _out(category, int(count or 0))


async def create_category(session: AsyncSession, actor: Actor, body: CategoryIn) -> CategoryOut:
    require_role(actor, UserRole.ADMIN, to="manage forum categories")
    now = utcnow()
    values = {**body.model_dump(), "created_at": now, "updated_at": now}
    # ON CONFLICT: two admins creating one slug at once get one row and one 409, never a 500.
    stmt = _insert(session).values(values).on_conflict_do_nothing().returning(_TABLE.c.slug)
    if (await session.execute(stmt)).first() is None:
        raise CategoryExists(field="slug")
    await audit.record(
        session,
        actor_id=actor.user_id,
        action="category.create",
        target_type="category",
        target_id=body.slug,
        after=body.model_dump(mode="json"),
    )
    return await read_category(session, body.slug)


async def update_category(
    session: AsyncSession, actor: Actor, slug: str, body: CategoryPatchIn
) -> CategoryOut:
    require_role(actor, UserRole.ADMIN, to="manage forum categories")
    category = await access_category(session, slug)
    changes = body.changes()
    before = {name: getattr(category, name) for name in changes}
    for name, value in changes.items():
        setattr(category, name, value)
    category.updated_at = utcnow()
    await session.flush()
    if changes != before:
        await audit.record(
            session,
            actor_id=actor.user_id,
            action="category.update",
            target_type="category",
            target_id=slug,
            before=before,
            after=changes,
        )
    return await read_category(session, slug)


async def delete_category(session: AsyncSession, actor: Actor, slug: str) -> None:
    """Only an empty category goes (409 otherwise): threads keep their category for good, and
    deleted threads count too, since they stay in the database."""
    require_role(actor, UserRole.ADMIN, to="manage forum categories")
    category = await access_category(session, slug)
    used = await session.scalar(
        select(func.count()).where(col(Thread.category_id) == category.category_id)
    )
    if used:
        raise CategoryInUse(threads=int(used))
    await audit.record(
        session,
        actor_id=actor.user_id,
        action="category.delete",
        target_type="category",
        target_id=slug,
        before={"name": category.name},
    )
    await session.delete(category)
    await session.flush()
