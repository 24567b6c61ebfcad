"""Identities at OpenID Connect providers: find, link or create the account behind a verified
identity, then sign the browser in (docs/accounts.md, "Sign-in with OpenID Connect").

The protocol itself (redirects, PKCE, ID-token checks) is :mod:`hub.accounts.oidc`.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts.credentials import SIGNED_OUT, SocketCloser, end_connections, user_key
from hub.accounts.errors import AccountDisabled, OIDCFailed
from hub.accounts.models import ApiToken, Identity, User
from hub.accounts.oidc import IdentityClaims
from hub.accounts.sessions import StartedSession, revoke_sessions, start_session
from hub.accounts.tokens import revoke_refresh_families
from hub.accounts.users import create_user, derive_username, get_user_by_email, user_id_of
from hub.db import utcnow
from hub.errors import Conflict, NotFound


async def sign_in_with_identity(
    session: AsyncSession,
    *,
    sockets: SocketCloser,
    provider: str,
    subject: str,
    email: str | None,
    email_verified: bool,
    name: str | None = None,
    preferred_username: str | None = None,
) -> User:
    """The account for a verified OIDC identity: the one already linked, else the account with
    the same *verified* email (then linked), else a new account.

    An unverified email never links. When a verified email links to an account whose own email
    was never verified, that account's password, sessions and tokens are revoked: someone may have
    registered the address before its owner (pre-hijacking), and the provider just proved who the
    owner is.
    """
    identity = await session.scalar(
        select(Identity).where(col(Identity.provider) == provider, col(Identity.subject) == subject)
    )
    if identity is not None:
        return await _linked_user(session, identity, email=email)
    if not email:
        raise OIDCFailed("The identity provider did not share an email address.")
    existing = await get_user_by_email(session, email)
    if existing is not None:
        user = await _link_by_email(
            session, existing, sockets=sockets, email_verified=email_verified
        )
    else:
        local = email.split("@", 1)[0]
        username = await derive_username(session, preferred_username, local, name)
        user = await create_user(
            session,
            email=email,
            username=username,
            password=None,
            display_name=name,
            email_verified=email_verified,
        )
    session.add(Identity(user_id=user_id_of(user), provider=provider, subject=subject, email=email))
    await session.flush()
    return user


async def _linked_user(session: AsyncSession, identity: Identity, *, email: str | None) -> User:
    user = await session.get(User, identity.user_id)
    if user is None:  # pragma: no cover - the foreign key cascades
        raise NotFound("The linked account no longer exists.")
    if not user.is_active:
        raise AccountDisabled()
    identity.email = email
    await session.flush()
    return user


async def _link_by_email(
    session: AsyncSession, existing: User, *, sockets: SocketCloser, email_verified: bool
) -> User:
    if not email_verified:
        raise Conflict(
            "An account already uses this email address, and the identity provider has not "
            "verified it; sign in with your password instead."
        )
    if not existing.is_active:
        raise AccountDisabled()
    if not existing.email_verified:
        await _evict_pre_hijacker(session, existing, sockets=sockets)
    return existing


async def _evict_pre_hijacker(session: AsyncSession, user: User, *, sockets: SocketCloser) -> None:
    # Whoever registered the address before the provider proved its owner loses every way in:
    # the password, the sessions, the refresh families, the personal tokens and their sockets.
    uid = user_id_of(user)
    user.password_hash = None
    user.email_verified = True
    await revoke_sessions(session, uid)
    await revoke_refresh_families(session, uid, reason="identity_linked")
    end_connections(session, sockets, [user_key(uid)], SIGNED_OUT)
    await session.execute(
        update(ApiToken)
        .where(col(ApiToken.user_id) == uid, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def start_identity_session(
    session: AsyncSession,
    *,
    sockets: SocketCloser,
    provider: str,
    claims: IdentityClaims,
    ip: str = "",
    user_agent: str = "",
    replaces: str | None = None,
) -> StartedSession:
    """The OIDC callback's work: find, link or create the account, then sign the browser in."""
    user = await sign_in_with_identity(
        session,
        sockets=sockets,
        provider=provider,
        subject=claims.subject,
        email=claims.email,
        email_verified=claims.email_verified,
        name=claims.name,
        preferred_username=claims.preferred_username,
    )
    return await start_session(
        session,
        user,
        sockets=sockets,
        user_agent=user_agent,
        ip=ip,
        replaces=replaces,
    )
