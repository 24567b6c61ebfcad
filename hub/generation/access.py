"""Who may use which model: the preset's own rule, or the admins' ``model_access`` row.

Every path that lists or uses models asks here (``/api/v1/models``, job submission, the room's and
the prompt library's default model), so a model an admin restricted is neither offered nor run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.roles import UserRole
from hub.db import utcnow
from hub.generation.errors import ModelNotAllowed
from hub.generation.models import ModelAccess
from hub.generation.providers.registry import ModelPreset


class HasRole(Protocol):
    @property
    def role(self) -> str: ...


async def access_rules(session: AsyncSession) -> dict[str, UserRole]:
    """model id -> minimum role, for the models admins set a rule on."""
    rows = await session.scalars(select(ModelAccess))
    return {row.model_id: UserRole(row.min_role) for row in rows}


def may_use(preset: ModelPreset, role: str, rules: Mapping[str, UserRole]) -> bool:
    minimum = rules.get(preset.id)
    if minimum is None:
        return preset.allows(role)
    return UserRole(role).rank >= minimum.rank


async def usable_presets(
    session: AsyncSession, presets: Mapping[str, ModelPreset], actor: HasRole
) -> list[ModelPreset]:
    rules = await access_rules(session)
    return [p for p in presets.values() if may_use(p, actor.role, rules)]


async def check_model(session: AsyncSession, preset: ModelPreset, actor: HasRole) -> None:
    """403 ``forbidden`` (ModelNotAllowed) when the actor's role may not use ``preset``."""
    if not may_use(preset, actor.role, await access_rules(session)):
        raise ModelNotAllowed(f"Your account cannot use {preset.label}.")


async def set_min_role(
    session: AsyncSession, *, model_id: str, min_role: UserRole | None, actor_id: int | None
) -> tuple[str | None, str | None]:
    """Set (or with None remove) the model's rule; returns (before, after) minimum roles. The
    caller (admin) checks the permission and records the audit entry."""
    row = await session.get(ModelAccess, model_id)
    before = row.min_role if row is not None else None
    if min_role is None:
        if row is not None:
            await session.delete(row)
    elif row is None:
        session.add(
            ModelAccess(
                model_id=model_id, min_role=min_role.value, updated_at=utcnow(), updated_by=actor_id
            )
        )
    else:
        row.min_role = min_role.value
        row.updated_at = utcnow()
        row.updated_by = actor_id
    await session.flush()
    return before, (min_role.value if min_role is not None else None)
