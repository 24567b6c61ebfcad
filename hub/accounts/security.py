"""Credentials: password hashing, random secrets and their digests, signed access tokens.

- Passwords: argon2id (argon2-cffi defaults, RFC 9106 low-memory profile); hashes made with older
  parameters are upgraded at the next successful login (:func:`password_needs_rehash`).
- Session ids, refresh tokens and personal tokens are 256-bit random strings; the database keeps
  only their SHA-256 digest (:func:`digest`). A fast hash is enough for high-entropy secrets: there
  is nothing to brute-force, and lookups stay one indexed equality.
- Access tokens are HS256 JWTs (joserfc) signed with a key derived from ``settings.secret_key``
  for this purpose only, so the same secret signing CSRF or OIDC cookies can never produce a
  valid access token (and vice versa).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from hub.errors import TokenExpired, TokenInvalid
from hub.settings import Settings

PAT_PREFIX = "hub_pat_"
REFRESH_PREFIX = "hub_rt_"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JWT "typ" header value)
_ACCESS_ALGORITHM = "HS256"

_hasher = PasswordHasher()


def set_password_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Swap the argon2 parameters; returns the previous hasher.

    The defaults cost ~170 ms per hash on a 2-core machine, which is right for production and far
    too slow for a test suite that creates hundreds of users: tests install cheap parameters.
    Hashes made with other parameters keep verifying (argon2 stores them in the hash) and are
    upgraded at the next login.
    """
    global _hasher
    previous, _hasher = _hasher, hasher
    _dummy_hash.cache_clear()
    return previous


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. Without a hash (unknown user, OIDC-only account) a dummy
    hash is still verified so that response times do not reveal which accounts exist."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def new_secret(prefix: str = "") -> str:
    """A fresh 256-bit random secret, URL-safe, optionally prefixed (``hub_pat_``)."""
    return prefix + secrets.token_urlsafe(32)


def new_id(nbytes: int = 16) -> str:
    return secrets.token_hex(nbytes)


def digest(secret: str) -> str:
    """SHA-256 hex digest: how secrets are stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison (CSRF tokens, OIDC state)."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def derive_key(settings: Settings, purpose: str) -> bytes:
    """A key for one purpose only, derived from the one configured secret."""
    secret = settings.secret_key.get_secret_value().encode("utf-8")
    return hmac.new(secret, f"hub.accounts.{purpose}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    family_id: str
    expires_at: int


def issue_access_token(
    settings: Settings, *, user_id: int, family_id: str, now: int | None = None
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    issued = int(time.time()) if now is None else now
    ttl = settings.access_token_ttl
    claims = {
        "iss": settings.public_url,
        "sub": str(user_id),
        "fam": family_id,
        "iat": issued,
        "exp": issued + ttl,
    }
    header = {"alg": _ACCESS_ALGORITHM, "typ": ACCESS_TOKEN_TYPE}
    key = OctKey.import_key(derive_key(settings, "access-token"))
    return jwt.encode(header, claims, key, algorithms=[_ACCESS_ALGORITHM]), ttl


def read_access_token(settings: Settings, token: str) -> AccessClaims:
    """Verify signature, type, issuer and expiry. Raises ``TokenExpired`` or ``TokenInvalid``."""
    key = OctKey.import_key(derive_key(settings, "access-token"))
    try:
        decoded = jwt.decode(token, key, algorithms=[_ACCESS_ALGORITHM])
    except (JoseError, ValueError, TypeError) as exc:
        raise TokenInvalid("The access token is malformed or its signature is wrong.") from exc
    if decoded.header.get("typ") != ACCESS_TOKEN_TYPE:
        raise TokenInvalid("This is not an access token.")
    registry = JWTClaimsRegistry(
        iss={"essential": True, "value": settings.public_url},
        sub={"essential": True},
        fam={"essential": True},
        exp={"essential": True},
    )
    try:
        registry.validate(decoded.claims)
    except ExpiredTokenError as exc:
        raise TokenExpired("The access token has expired; refresh it.") from exc
    except JoseError as exc:
        raise TokenInvalid("The access token's claims are not valid.") from exc
    claims = decoded.claims
    subject, family = claims["sub"], claims["fam"]
    if not (isinstance(subject, str) and subject.isdigit() and isinstance(family, str)):
        raise TokenInvalid("The access token's claims are not valid.")
    return AccessClaims(user_id=int(subject), family_id=family, expires_at=int(claims["exp"]))
