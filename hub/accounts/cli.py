"""``hub user create``, ``hub user set-role`` and ``hub token create``.

Each command opens the configured database (``DATABASE_URL`` / ``HUB_DATA_DIR``), does its work in
one unit of work and exits 0; a refused input prints the reason to stderr and exits 1 (2 for
usage errors). The database must be migrated first (``hub migrate``).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from getpass import getpass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts import tokens, users
from hub.accounts.roles import UserRole
from hub.db import Database
from hub.errors import HubError, NotFound
from hub.settings import Settings

if TYPE_CHECKING:
    from hub.accounts.credentials import BusSocketCloser


def register_commands(sub: Any) -> None:
    """Add the ``user`` and ``token`` command groups to the ``hub`` parser's subparsers."""
    user = sub.add_parser("user", help="Manage accounts.")
    user_sub = user.add_subparsers(dest="user_command", required=True)

    create = user_sub.add_parser("create", help="Create an account.")
    create.add_argument("email")
    create.add_argument(
        "--password",
        help="Prompted for (twice) when omitted on a terminal; without one (a script), a strong "
        "password is generated and printed.",
    )
    create.add_argument("--username", help="Derived from the email when omitted.")
    create.add_argument("--admin", action="store_true", help="Give the account the admin role.")
    create.set_defaults(func=_user_create)

    set_role = user_sub.add_parser("set-role", help="Change an account's role.")
    set_role.add_argument("username")
    set_role.add_argument("role", choices=[role.value for role in UserRole])
    set_role.set_defaults(func=_user_set_role)

    token = sub.add_parser("token", help="Manage personal API tokens.")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    token_create = token_sub.add_parser(
        "create", help="Create a personal API token; it is printed as the last line."
    )
    token_create.add_argument("email")
    token_create.add_argument("--name", default="cli", help="What the token is for.")
    token_create.add_argument(
        "--expires-in-days", type=int, default=None, help="Omit for no expiry."
    )
    token_create.set_defaults(func=_token_create)


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def _run(settings: Settings, work: Callable[[AsyncSession], Awaitable[str]]) -> int:
    async def main() -> str:
        db = Database(settings)
        try:
            async with db.unit_of_work() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        output = asyncio.run(main())
    except HubError as exc:
        _err(f"error: {exc.message}")
        for field in exc.details.get("fields", []):
            _err(f"  {field.get('field')}: {field.get('message')}")
        return 1
    except SQLAlchemyError as exc:
        _err(f"error: the database refused the change (is it migrated? run `hub migrate`): {exc}")
        return 1
    _out(output)
    return 0


def _read_password(given: str | None) -> tuple[str | None, bool]:
    """The password to set and whether it was generated here (and must be printed)."""
    if given is not None:
        return given, False
    if not sys.stdin.isatty():
        # A script (provisioning, CI): nobody to prompt, so make a strong one and print it.
        return secrets.token_urlsafe(18), True
    first = getpass("Password: ")
    if getpass("Password (again): ") != first:
        _err("error: the passwords do not match.")
        return None, False
    return first, False


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    password, generated = _read_password(args.password)
    if password is None:
        return 2

    async def work(session: AsyncSession) -> str:
        username = args.username or await users.derive_username(
            session, args.email.split("@", 1)[0]
        )
        user = await users.create_user(
            session,
            email=args.email,
            username=username,
            password=password,
            role=UserRole.ADMIN if args.admin else UserRole.USER,
            # The operator vouches for the address (no pre-hijacking risk to defend against).
            email_verified=True,
        )
        done = f"created user {user.username} (id {user.user_id}, role {user.role})"
        return f"{done}\ngenerated password: {password}" if generated else done

    return _run(settings, work)


class _NoBus:
    """Without Redis nothing reaches the web process's sockets: only note that a close was due."""

    requested = False

    async def close_credentials(self, keys: Sequence[str], reason: str) -> None:
        self.requested = True


def _user_set_role(args: argparse.Namespace, settings: Settings) -> int:
    # This process serves no sockets. A lower role ends the user's open ones (docs/accounts.md):
    # with Redis, the close goes over the web processes' bus; without it, nothing can reach them.
    sockets: BusSocketCloser | _NoBus = _NoBus()
    if settings.redis_url:
        from hub.accounts.credentials import BusSocketCloser

        sockets = BusSocketCloser(settings)

    async def work(session: AsyncSession) -> str:
        user = await users.get_user_by_username(session, args.username)
        if user is None or user.user_id is None:
            raise NotFound(f"No user named {args.username!r}.")
        await users.set_role(
            session, None, sockets=sockets, user_id=user.user_id, role=UserRole(args.role)
        )
        return f"{user.username} is now {args.role}"

    code = _run(settings, work)
    if code != 0 or not sockets.requested:
        return code
    if isinstance(sockets, _NoBus):
        _out(
            "note: without REDIS_URL this command cannot reach the web process, so sockets the "
            "user already has open keep the old role until they reconnect (lowering the role with "
            "PATCH /api/v1/admin/users/{user_id}/role closes them at once)."
        )
    elif sockets.published:
        _out("closed their open sockets on every web process (4401, role changed)")
    else:
        _err(
            "warning: the role is changed, but the close of the user's open sockets could not be "
            f"published on Redis ({sockets.error}); they keep the old role until they reconnect."
        )
    return code


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    if args.expires_in_days is not None and not 1 <= args.expires_in_days <= 3650:
        _err("error: --expires-in-days must be between 1 and 3650.")
        return 2

    async def work(session: AsyncSession) -> str:
        user = await users.get_user_by_email(session, args.email)
        if user is None:
            raise NotFound(f"No user with the email {args.email!r}.")
        row, secret = await tokens.create_personal_token(
            session, user, name=args.name, expires_in_days=args.expires_in_days
        )
        return f"created token {row.token_id} ({row.name}) for {user.username}\n{secret}"

    return _run(settings, work)
