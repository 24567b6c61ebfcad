"""The admin domain: what the people who run a hub do, each action audited.

The top layer: it calls every domain's service and records the audit entry in the same
transaction (hub.audit.service.record), with before/after snapshots, so an entry exists exactly
when its change does. Rules that belong to a domain stay there (who may be disabled, how a room
closes); this module checks that the caller is an admin and composes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub import site
from hub.accounts import status as accounts_status
from hub.accounts import users as accounts_users
from hub.accounts.credentials import SocketCloser
from hub.accounts.deps import Actor
from hub.accounts.models import User
from hub.accounts.roles import UserRole, require_role
from hub.admin.schemas import (
    AdminUserOut,
    AdminUserPage,
    AuditEntryOut,
    AuditPage,
    AuditQuery,
    ModelAccessList,
    ModelAccessOut,
    RoomListQuery,
    SiteOut,
    SitePatchIn,
    SitePublicOut,
    UserListQuery,
    UserPatchIn,
)
from hub.audit import service as audit
from hub.audit.models import AuditEntry
from hub.collab import rooms as collab_rooms
from hub.collab.component import RoomsComponent
from hub.collab.models import RoomStatus
from hub.collab.schemas import RoomOut, RoomPage
from hub.db import Database
from hub.errors import BadRequest, NotFound, ValidationFailed
from hub.generation import access as model_access
from hub.generation.providers.registry import ModelPreset


def require_admin(actor: Actor) -> None:
    require_role(actor, UserRole.ADMIN, to="use the admin pages")


# --- users ---------------------------------------------------------------------------------------


def user_out(user: User) -> AdminUserOut:
    return AdminUserOut(
        user_id=accounts_users.user_id_of(user),
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        role=UserRole(user.role),
        is_active=user.is_active,
        email_verified=user.email_verified,
        created_at=user.created_at,
    )


async def list_users(session: AsyncSession, actor: Actor, query: UserListQuery) -> AdminUserPage:
    where = accounts_status.UserFilter(q=query.q, role=query.role, is_active=query.is_active)
    rows, next_cursor = await accounts_status.list_users(
        session, actor, where=where, cursor=query.cursor, limit=query.limit
    )
    return AdminUserPage(items=[user_out(u) for u in rows], next_cursor=next_cursor)


async def change_user(
    session: AsyncSession,
    actor: Actor,
    *,
    sockets: SocketCloser,
    user_id: int,
    body: UserPatchIn,
) -> AdminUserOut:
    """Disable/enable and change the role, each change audited. Disabling ends every session
    and token of the user and closes their sockets on every process (after the commit)."""
    require_admin(actor)
    user = await accounts_users.get_user(session, user_id)
    if user is None:
        raise NotFound("No such user.")
    if body.role is not None:  # audited by accounts (user.role), as from every other path
        user = await accounts_users.set_role(
            session, actor, sockets=sockets, user_id=user_id, role=body.role, reason=body.reason
        )
    if body.is_active is not None:
        user, was_active = await accounts_status.set_active(
            session, actor, sockets=sockets, user_id=user_id, active=body.is_active
        )
        if was_active != body.is_active:
            await audit.record(
                session,
                actor_id=actor.user_id,
                action="user.enable" if body.is_active else "user.disable",
                target_type="user",
                target_id=user_id,
                before={"is_active": was_active},
                after={"is_active": body.is_active},
                reason=body.reason,
            )
    return user_out(user)


# --- rooms ---------------------------------------------------------------------------------------


async def list_rooms(
    session: AsyncSession, actor: Actor, query: RoomListQuery, *, live: RoomsComponent
) -> RoomPage:
    return await collab_rooms.oversee_rooms(
        session,
        actor,
        q=query.q,
        state=RoomStatus(query.state) if query.state else None,
        cursor=query.cursor,
        limit=query.limit,
        live=live,
    )


async def close_room(
    session: AsyncSession, actor: Actor, slug: str, *, reason: str, live: RoomsComponent
) -> RoomOut:
    room, before = await collab_rooms.shut_room(session, actor, slug, live=live, reason=reason)
    await audit.record(
        session,
        actor_id=actor.user_id,
        action="room.close",
        target_type="room",
        target_id=slug,
        before={"state": before},
        after={"state": room.state},
        reason=reason,
    )
    return room


# --- site ----------------------------------------------------------------------------------------


def site_out(value: site.SiteSettings) -> SiteOut:
    return SiteOut(**value.as_dict())


async def public_site(session: AsyncSession) -> SitePublicOut:
    """What every visitor may know: the banner and whether sign-ups are open."""
    value = await site.current(session)
    return SitePublicOut(announcement=value.announcement, signups_open=value.signups_open)


async def read_site(session: AsyncSession, actor: Actor) -> SiteOut:
    require_admin(actor)
    return site_out(await site.current(session))


async def change_site(session: AsyncSession, actor: Actor, body: SitePatchIn) -> SiteOut:
    require_admin(actor)
    try:
        changes = body.changes()
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    before, after = await site.update(session, changes=changes, actor_id=actor.user_id)
    old, new = before.as_dict(), after.as_dict()
    changed = [name for name in changes if old[name] != new[name]]
    if changed:
        await audit.record(
            session,
            actor_id=actor.user_id,
            action="site.update",
            target_type="site",
            target_id=site.SITE_ID,
            before={name: old[name] for name in changed},
            after={name: new[name] for name in changed},
            reason=body.reason,
        )
    return site_out(after)


# --- models --------------------------------------------------------------------------------------


async def list_model_access(
    session: AsyncSession, actor: Actor, presets: Mapping[str, ModelPreset]
) -> ModelAccessList:
    require_admin(actor)
    rules = await model_access.access_rules(session)
    items = [
        ModelAccessOut(
            id=p.id,
            label=p.label,
            min_role=rules.get(p.id),
            preset_roles=sorted((UserRole(r) for r in p.roles_allowed), key=lambda r: r.rank),
        )
        for p in presets.values()
    ]
    return ModelAccessList(items=items)


async def set_model_access(
    session: AsyncSession,
    actor: Actor,
    presets: Mapping[str, ModelPreset],
    *,
    model_id: str,
    min_role: UserRole | None,
    reason: str | None,
) -> ModelAccessList:
    require_admin(actor)
    if model_id not in presets:
        raise NotFound("This hub serves no such model.")
    before, after = await model_access.set_min_role(
        session, model_id=model_id, min_role=min_role, actor_id=actor.user_id
    )
    if before != after:
        await audit.record(
            session,
            actor_id=actor.user_id,
            action="model.access",
            target_type="model",
            target_id=model_id,
            before={"min_role": before},
            after={"min_role": after},
            reason=reason,
        )
    return await list_model_access(session, actor, presets)


# --- audit ---------------------------------------------------------------------------------------


def _before_id(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
        raise BadRequest("The cursor is not valid; start again without it.")
    return int(cursor)


async def _entries(
    session: AsyncSession, query: AuditQuery, *, before_id: int | None, limit: int
) -> list[AuditEntry]:
    rows = await audit.entries(
        session,
        actor_id=query.actor,
        action=query.action,
        target_type=query.target_type,
        target_id=query.target_id,
        since=query.since,
        until=query.until,
        before_id=before_id,
        limit=limit,
    )
    return list(rows)


async def list_audit(session: AsyncSession, actor: Actor, query: AuditQuery) -> AuditPage:
    """Newest first; the cursor is the last entry's id (entries are append-only, so ids never
    move)."""
    require_admin(actor)
    rows = await _entries(session, query, before_id=_before_id(query.cursor), limit=query.limit + 1)
    items = [AuditEntryOut.model_validate(r) for r in rows[: query.limit]]
    next_cursor = str(items[-1].audit_id) if len(rows) > query.limit else None
    return AuditPage(items=items, next_cursor=next_cursor)


CSV_COLUMNS = (
    "audit_id",
    "created_at",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
    "reason",
)
CSV_BATCH = 500
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


async def check_audit_export(session: AsyncSession, actor: Actor, query: AuditQuery) -> None:
    """The checks of the CSV export, made before its response starts (a refusal must still
    be a proper error, not a cut-off file)."""
    require_admin(actor)
    _before_id(query.cursor)


async def audit_csv(db: Database, query: AuditQuery) -> AsyncIterator[bytes]:
    """Every matching entry, newest first, as CSV, in batches of ``CSV_BATCH`` rows read in
    their own short transactions (a long export never holds a connection for its whole
    length). Call :func:`check_audit_export` first."""
    yield _csv_line(list(CSV_COLUMNS)).encode()
    before_id = _before_id(query.cursor)
    while True:
        async with db.unit_of_work() as session:
            rows = await _entries(session, query, before_id=before_id, limit=CSV_BATCH)
        if not rows:
            return
        chunk = "".join(
            _csv_line(
                [
                    r.audit_id,
                    r.created_at.isoformat(),
                    _cell(r.actor_id),
                    _cell(r.action),
                    _cell(r.target_type),
                    _cell(r.target_id),
                    _cell(r.before),
                    _cell(r.after),
                    _cell(r.reason),
                ]
            )
            for r in rows
        )
        yield chunk.encode()
        if len(rows) < CSV_BATCH:
            return
        before_id = rows[-1].audit_id
