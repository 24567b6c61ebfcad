"""Tables of the accounts domain: users, browser sessions, refresh-token families, personal API
tokens and OIDC identities.

Secrets never rest in the database in clear: session ids, refresh tokens and personal tokens are
stored as SHA-256 digests (they are 256-bit random values, so a fast hash is enough), passwords as
argon2id hashes. Other domains reference users by ``user_id`` with a foreign key and read them
through :mod:`hub.accounts.users`, never by importing these classes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from hub.accounts.roles import UserRole
from hub.db import UTCDateTime, now_field

# The CHECK spells the roles out as SQL: "role IN ('user', 'moderator', 'admin')".
_ROLE_CHECK = "role IN ({})".format(", ".join(f"'{role}'" for role in UserRole))


def _fk_user(table: str) -> ForeignKey:
    return ForeignKey("users.user_id", ondelete="CASCADE", name=f"fk_{table}_user_id_users")


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email_key", name="uq_users_email_key"),
        UniqueConstraint("username_key", name="uq_users_username_key"),
        CheckConstraint(_ROLE_CHECK, name="ck_users_role"),
    )

    user_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    email: str = Field(sa_column=Column(String(320), nullable=False))
    # Lower-cased copies carry the case-insensitive uniqueness on both databases (an expression
    # index on lower() would need dialect-specific DDL and query shapes).
    email_key: str = Field(sa_column=Column(String(320), nullable=False))
    username: str = Field(sa_column=Column(String(32), nullable=False))
    username_key: str = Field(sa_column=Column(String(32), nullable=False))
    # None for accounts created through an identity provider that never set a password.
    password_hash: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    display_name: str = Field(sa_column=Column(String(64), nullable=False))
    bio: str = Field(default="", sa_column=Column(String(500), nullable=False))
    avatar_url: str | None = Field(default=None, sa_column=Column(String(1024), nullable=True))
    role: str = Field(default=UserRole.USER.value, sa_column=Column(String(16), nullable=False))
    is_active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    email_verified: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    # The language ("en", "zh_Hans") and IANA time zone pages are shown in; None: not chosen,
    # so the browser's Accept-Language and its own zone decide (hub.i18n, docs/web.md).
    locale: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    timezone: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    created_at: datetime = now_field()
    updated_at: datetime = now_field()
    # hub.accounts.trust.TrustLevel; None: by account age (HUB_NEW_ACCOUNT_HOURS).
    trust_level: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    # Moderation: a suspended ("hidden") user can sign in and read but not post.
    suspended_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    suspended_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class BrowserSession(SQLModel, table=True):
    __tablename__ = "browser_sessions"
    __table_args__ = (Index("ix_browser_sessions_user_id", "user_id"),)

    # SHA-256 of the cookie value; the cookie itself is never stored.
    session_id: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: int = Field(sa_column=Column(Integer, _fk_user("browser_sessions"), nullable=False))
    csrf_token: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = now_field()
    last_seen_at: datetime = now_field()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    user_agent: str = Field(default="", sa_column=Column(String(512), nullable=False))
    ip: str = Field(default="", sa_column=Column(String(64), nullable=False))


class RefreshFamily(SQLModel, table=True):
    """One login through ``POST /auth/token``; every rotation stays in the family."""

    __tablename__ = "refresh_families"
    __table_args__ = (Index("ix_refresh_families_user_id", "user_id"),)

    family_id: str = Field(sa_column=Column(String(32), primary_key=True))
    user_id: int = Field(sa_column=Column(Integer, _fk_user("refresh_families"), nullable=False))
    created_at: datetime = now_field()
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revoked_reason: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
        Index("ix_refresh_tokens_family_id", "family_id"),
    )

    refresh_token_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False))
    family_id: str = Field(
        sa_column=Column(
            String(32),
            ForeignKey(
                "refresh_families.family_id",
                ondelete="CASCADE",
                name="fk_refresh_tokens_family_id_refresh_families",
            ),
            nullable=False,
        )
    )
    created_at: datetime = now_field()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # Set when this token was exchanged; presenting it again is a reuse (theft signal).
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class ApiToken(SQLModel, table=True):
    """A personal API token (``hub_pat_...``) for scripts."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        Index("ix_api_tokens_user_id", "user_id"),
    )

    token_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    user_id: int = Field(sa_column=Column(Integer, _fk_user("api_tokens"), nullable=False))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False))
    # The first characters of the secret, shown in lists so people can tell tokens apart.
    token_prefix: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = now_field()
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_used_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class Identity(SQLModel, table=True):
    """A user's account at an external OIDC provider (Google, a company IdP, ...)."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("provider", "subject", name="uq_identities_provider_subject"),
        Index("ix_identities_user_id", "user_id"),
    )

    identity_id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    user_id: int = Field(sa_column=Column(Integer, _fk_user("identities"), nullable=False))
    provider: str = Field(sa_column=Column(String(64), nullable=False))
    subject: str = Field(sa_column=Column(String(255), nullable=False))
    email: str | None = Field(default=None, sa_column=Column(String(320), nullable=True))
    created_at: datetime = now_field()
