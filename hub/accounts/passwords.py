"""Passwords: the strength rules, argon2 hashing off the event loop, and password sign-in.

The lowest of the accounts service modules (docs/accounts.md, "Layout"): :mod:`users` hashes with
it, :mod:`sessions` and :mod:`tokens` sign in with it. Changing a password ends sessions and
refresh families, so it lives in :mod:`hub.accounts.sessions`.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.accounts import security
from hub.accounts.errors import AccountDisabled, field_error
from hub.accounts.models import User
from hub.accounts.schemas import PASSWORD_MAX, PASSWORD_MIN
from hub.db import settings_of
from hub.errors import InvalidCredentials
from hub.ratelimit import RateLimiter

# Short lists of the passwords people pick first; length alone lets "password" through.
_COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "password123", "12345678", "123456789", "1234567890",
        "qwertyuiop", "qwerty123", "11111111", "00000000", "iloveyou", "abcdefgh",
        "abc12345", "letmein1", "sunshine", "princess", "football", "baseball", "welcome1",
        "admin123", "passw0rd", "88888888", "66666666", "a1234567", "1q2w3e4r", "zxcvbnm1",
    }
)  # fmt: skip


async def hash_password(password: str) -> str:
    # argon2 takes ~170 ms of CPU per call and releases the GIL: in a thread it neither stalls
    # the event loop (rooms keep streaming while someone logs in) nor serialises logins.
    return await asyncio.to_thread(security.hash_password, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Same cost whether or not there is a hash (see :func:`hub.accounts.security.verify_password`),
    off the event loop like :func:`hash_password`."""
    return await asyncio.to_thread(security.verify_password, password_hash, password)


def check_password_strength(password: str, *, username: str = "", email: str = "") -> None:
    """Length bounds plus the cheap checks that catch the worst choices."""
    if len(password) < PASSWORD_MIN:
        raise field_error("password", f"use at least {PASSWORD_MIN} characters", "too_short")
    if len(password) > PASSWORD_MAX:
        raise field_error("password", f"use at most {PASSWORD_MAX} characters", "too_long")
    lowered = password.lower()
    local = email.split("@", 1)[0].lower()
    if (
        lowered in _COMMON_PASSWORDS
        or len(set(password)) < 3
        or (username and lowered == username.lower())
        or (local and lowered == local)
    ):
        raise field_error("password", "this password is too easy to guess", "weak_password")


async def authenticate_password(
    session: AsyncSession,
    *,
    limiter: RateLimiter,
    login: str,
    password: str,
    ip: str,
) -> User:
    """The user behind ``login`` (email or username) and ``password``.

    Rate-limited per client IP (``rate_limit_login_ip``, generous: many people share an IP) and
    per account name (``rate_limit_login``, strict) *before* the password is checked, so a
    locked-out attacker learns nothing more. The budget is per name as typed (email and username
    count apart): keying it by the user found would tell which email and username belong
    together. Unknown users and wrong passwords get the same error and the same argon2 cost (no
    user enumeration, not even by timing).
    """
    settings = settings_of(session)
    login_key = login.strip().lower()
    await limiter.hit(settings.rate_limit_login_ip, "login-ip", ip)
    await limiter.hit(settings.rate_limit_login, "login-account", login_key)
    column = User.email_key if "@" in login_key else User.username_key
    user = await session.scalar(select(User).where(col(column) == login_key))
    if not await verify_password(user.password_hash if user else None, password):
        raise InvalidCredentials()
    if user is None or user.password_hash is None:  # pragma: no cover - verify_password said no
        raise InvalidCredentials()
    if not user.is_active:
        raise AccountDisabled()
    if security.password_needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
        await session.flush()
    return user
