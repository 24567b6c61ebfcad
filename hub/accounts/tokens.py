"""API tokens: refresh-token families and the access tokens they mint (the password grant for
API clients), and personal tokens (``hub_pat_...``) for scripts.

Rotation, reuse detection and revocation are described in docs/accounts.md, "API tokens".
Revoking a family or a personal token also closes the sockets it admitted (:mod:`credentials`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts import security
from hub.accounts.actor import Actor, require_interactive
from hub.accounts.credentials import (
    SIGNED_OUT,
    TOKEN_REVOKED,
    TOUCH_INTERVAL,
    SocketCloser,
    end_connections,
    family_key,
    personal_token_key,
)
from hub.accounts.errors import AccountDisabled
from hub.accounts.models import ApiToken, RefreshFamily, RefreshToken, User
from hub.accounts.passwords import authenticate_password
from hub.accounts.schemas import PersonalTokenOut, PersonalTokenPage, TokenPairOut
from hub.accounts.users import access_me, actor_for, user_id_of
from hub.db import settings_of, utcnow
from hub.errors import (
    HubError,
    NotFound,
    TokenExpired,
    TokenInvalid,
    TokenReused,
    ValidationFailed,
)
from hub.pagination import PageParams, decode_cursor, encode_cursor
from hub.ratelimit import RateLimiter

# --- refresh families and access tokens ----------------------------------------------------------


@dataclass(frozen=True)
class RefreshOutcome:
    """What a refresh produced. A reuse must *commit* the family's revocation and still fail,
    so the error travels as a value and the route raises it after the unit of work."""

    pair: TokenPairOut | None = None
    error: HubError | None = None

    def unwrap(self) -> TokenPairOut:
        if self.error is not None:
            raise self.error
        if self.pair is None:  # pragma: no cover - one of the two is always set
            raise RuntimeError("empty refresh outcome")
        return self.pair


async def _issue_pair(session: AsyncSession, *, user_id: int, family_id: str) -> TokenPairOut:
    settings = settings_of(session)
    secret = security.new_secret(security.REFRESH_PREFIX)
    now = utcnow()
    session.add(
        RefreshToken(
            token_hash=security.digest(secret),
            family_id=family_id,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl),
        )
    )
    await session.flush()
    access, ttl = security.issue_access_token(settings, user_id=user_id, family_id=family_id)
    return TokenPairOut(
        access_token=access,
        expires_in=ttl,
        refresh_token=secret,
        refresh_expires_in=settings.refresh_token_ttl,
    )


async def issue_tokens(
    session: AsyncSession,
    *,
    limiter: RateLimiter,
    login: str,
    password: str,
    ip: str,
) -> TokenPairOut:
    """Password grant for API clients: a new refresh-token family and its first pair."""
    user = await authenticate_password(
        session, limiter=limiter, login=login, password=password, ip=ip
    )
    family = RefreshFamily(
        family_id=security.new_id(), user_id=user_id_of(user), created_at=utcnow()
    )
    session.add(family)
    await session.flush()
    return await _issue_pair(session, user_id=user_id_of(user), family_id=family.family_id)


async def _revoke_family(session: AsyncSession, family_id: str, *, reason: str) -> bool:
    result = await session.execute(
        update(RefreshFamily)
        .where(col(RefreshFamily.family_id) == family_id, col(RefreshFamily.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def revoke_refresh_families(
    session: AsyncSession, user_id: int, *, reason: str, keep_family_id: str | None = None
) -> list[str]:
    """Revoke the user's live refresh-token families (but ``keep_family_id``); returns their
    ids."""
    query = (
        update(RefreshFamily)
        .where(col(RefreshFamily.user_id) == user_id, col(RefreshFamily.revoked_at).is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if keep_family_id is not None:
        query = query.where(col(RefreshFamily.family_id) != keep_family_id)
    result = await session.execute(query.returning(col(RefreshFamily.family_id)))
    return list(result.scalars())


async def _find_refresh(
    session: AsyncSession, refresh_token: str
) -> tuple[RefreshToken, RefreshFamily, User] | None:
    row = (
        await session.execute(
            select(RefreshToken, RefreshFamily, User)
            .join(RefreshFamily, col(RefreshFamily.family_id) == col(RefreshToken.family_id))
            .join(User, col(User.user_id) == col(RefreshFamily.user_id))
            .where(col(RefreshToken.token_hash) == security.digest(refresh_token))
        )
    ).first()
    if row is None:
        return None
    token, family, user = row
    return token, family, user


async def rotate_refresh_token(
    session: AsyncSession, *, sockets: SocketCloser, refresh_token: str
) -> RefreshOutcome:
    """Exchange a refresh token for a new pair. Presenting an already-exchanged token means two
    parties hold the family (one of them a thief): the whole family is revoked, and its sockets
    closed."""
    found = await _find_refresh(session, refresh_token)
    if found is None:
        raise TokenInvalid("The refresh token is not valid.")
    token, family, user = found
    now = utcnow()
    if token.used_at is not None:
        await _revoke_family(session, family.family_id, reason="reuse")
        end_connections(session, sockets, [family_key(family.family_id)], TOKEN_REVOKED)
        return RefreshOutcome(error=TokenReused())
    if family.revoked_at is not None:
        raise TokenInvalid("The refresh token was revoked.")
    if token.expires_at <= now:
        raise TokenExpired("The refresh token has expired; sign in again.")
    if not user.is_active:
        raise AccountDisabled()
    # One conditional statement claims the token: of two concurrent refreshes exactly one wins,
    # the other is a reuse (a read-then-write would let both through).
    claimed = await session.execute(
        update(RefreshToken)
        .where(
            col(RefreshToken.refresh_token_id) == token.refresh_token_id,
            col(RefreshToken.used_at).is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        await _revoke_family(session, family.family_id, reason="reuse")
        end_connections(session, sockets, [family_key(family.family_id)], TOKEN_REVOKED)
        return RefreshOutcome(error=TokenReused())
    pair = await _issue_pair(session, user_id=user_id_of(user), family_id=family.family_id)
    return RefreshOutcome(pair=pair)


async def revoke_refresh_token(
    session: AsyncSession, *, sockets: SocketCloser, refresh_token: str
) -> bool:
    """Sign an API client out: its refresh token and every access token of its family stop
    working, and the sockets they opened close. False when the token is unknown or its family
    was already revoked."""
    found = await _find_refresh(session, refresh_token)
    if found is None:
        return False
    family_id = found[1].family_id
    revoked = await _revoke_family(session, family_id, reason="revoked")
    if revoked:
        end_connections(session, sockets, [family_key(family_id)], SIGNED_OUT)
    return revoked


async def resolve_access_token(session: AsyncSession, *, token: str) -> Actor:
    claims = security.read_access_token(settings_of(session), token)
    return await resolve_access_claims(session, claims)


async def resolve_access_claims(session: AsyncSession, claims: security.AccessClaims) -> Actor:
    """The database half of :func:`resolve_access_token`, for claims already verified."""
    row = (
        await session.execute(
            select(User, col(RefreshFamily.revoked_at))
            .join(RefreshFamily, col(RefreshFamily.user_id) == col(User.user_id))
            .where(
                col(User.user_id) == claims.user_id,
                col(RefreshFamily.family_id) == claims.family_id,
            )
        )
    ).first()
    if row is None:
        raise TokenInvalid("The access token does not belong to a known sign-in.")
    user, revoked_at = row
    if revoked_at is not None:
        raise TokenInvalid("The access token was revoked.")
    if not user.is_active:
        raise AccountDisabled()
    return actor_for(user, auth="access_token", token_id=claims.family_id)


async def resolve_personal_token(session: AsyncSession, *, token: str) -> Actor:
    actor, _expires_at = await resolve_personal_token_until(session, token=token)
    return actor


async def resolve_personal_token_until(
    session: AsyncSession, *, token: str
) -> tuple[Actor, datetime | None]:
    """The actor and when the token expires (None: never), for the actor cache."""
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, col(User.user_id) == col(ApiToken.user_id))
            .where(col(ApiToken.token_hash) == security.digest(token))
        )
    ).first()
    if row is None:
        raise TokenInvalid("The personal token is not valid.")
    api_token, user = row
    now = utcnow()
    if api_token.revoked_at is not None:
        raise TokenInvalid("The personal token was revoked.")
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise TokenExpired("The personal token has expired.")
    if not user.is_active:
        raise AccountDisabled()
    if api_token.last_used_at is None or now - api_token.last_used_at >= TOUCH_INTERVAL:
        api_token.last_used_at = now
        await session.flush()
    return actor_for(user, auth="api_token", token_id=str(api_token.token_id)), api_token.expires_at


async def resolve_bearer(session: AsyncSession, *, token: str) -> Actor:
    """An access token or a personal token (told apart by the ``hub_pat_`` prefix)."""
    if token.startswith(security.PAT_PREFIX):
        return await resolve_personal_token(session, token=token)
    return await resolve_access_token(session, token=token)


# --- personal tokens -----------------------------------------------------------------------------


async def create_personal_token(
    session: AsyncSession, user: User, *, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new personal API token. The secret is returned here once and only its digest is kept."""
    secret = security.new_secret(security.PAT_PREFIX)
    now = utcnow()
    row = ApiToken(
        user_id=user_id_of(user),
        name=name.strip()[:64] or "token",
        token_hash=security.digest(secret),
        token_prefix=secret[: len(security.PAT_PREFIX) + 4],
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    await session.flush()
    return row, secret


async def create_my_token(
    session: AsyncSession, actor: Actor, *, name: str, expires_in_days: int | None
) -> tuple[ApiToken, str]:
    require_interactive(actor, "create tokens")
    user = await access_me(session, actor)
    return await create_personal_token(session, user, name=name, expires_in_days=expires_in_days)


def personal_token_out(row: ApiToken) -> PersonalTokenOut:
    if row.token_id is None:  # pragma: no cover - only flushed rows get here
        raise RuntimeError("the token row has no id yet; flush first")
    return PersonalTokenOut(
        token_id=row.token_id,
        name=row.name,
        token_prefix=row.token_prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


async def list_personal_tokens(
    session: AsyncSession, actor: Actor, *, params: PageParams
) -> PersonalTokenPage:
    """The actor's live (not revoked) personal tokens, newest first, without secrets."""
    query = select(ApiToken).where(
        col(ApiToken.user_id) == actor.user_id, col(ApiToken.revoked_at).is_(None)
    )
    if params.cursor:
        created_at, token_id = decode_cursor(params.cursor)
        if not isinstance(token_id, int):
            raise ValidationFailed(fields=[{"field": "cursor", "message": "is not valid"}])
        query = query.where(
            or_(
                col(ApiToken.created_at) < created_at,
                and_(col(ApiToken.created_at) == created_at, col(ApiToken.token_id) < token_id),
            )
        )
    query = query.order_by(col(ApiToken.created_at).desc(), col(ApiToken.token_id).desc())
    rows = list(await session.scalars(query.limit(params.limit + 1)))
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor(last.created_at, last.token_id)
    return PersonalTokenPage(items=[personal_token_out(r) for r in rows], next_cursor=next_cursor)


async def revoke_personal_token(
    session: AsyncSession, actor: Actor, *, sockets: SocketCloser, token_id: int
) -> None:
    """Revoke one of the actor's tokens and close the sockets it opened. Someone else's token is
    "not found", as is a revoked one."""
    require_interactive(actor, "revoke tokens")
    row = await session.get(ApiToken, token_id)
    if row is None or row.user_id != actor.user_id or row.revoked_at is not None:
        raise NotFound("No such token.")
    row.revoked_at = utcnow()
    end_connections(session, sockets, [personal_token_key(token_id)], TOKEN_REVOKED)
    await session.flush()
