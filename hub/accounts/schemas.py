"""Request and response bodies of the accounts API (pydantic; they feed the OpenAPI document)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from hub import text
from hub.accounts.roles import UserRole

USERNAME_RE = re.compile(r"^[a-zA-Z0-9_]{3,32}$")
# Deliberately simple: one @, no spaces or controls, a dot in the domain. Deliverability is the
# mail server's business; this only keeps obvious garbage out of a unique column. The class lists
# every whitespace character (str.isspace) explicitly, so the OpenAPI document's copy of the
# pattern means the same in every regex dialect.
_EMAIL_CHAR = (
    r"[^@\u0000-\u0020\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
EMAIL_RE = re.compile(rf"^{_EMAIL_CHAR}{{1,64}}@{_EMAIL_CHAR}+\.{_EMAIL_CHAR}+$")
EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 256

# Names that would be confusing (impersonating staff) or collide with paths and words of the UI.
RESERVED_USERNAMES = frozenset(
    {
        "about", "abuse", "account", "accounts", "admin", "administrator", "anonymous", "api",
        "auth", "bot", "contact", "credits", "everyone", "feed", "feeds", "forum", "guest",
        "help", "here", "hub", "info", "login", "logout", "me", "media", "mod", "moderator",
        "moderators", "new", "nobody", "none", "null", "official", "oidc", "owner", "postmaster",
        "prompts", "register", "root", "room", "rooms", "security", "settings", "signin",
        "signup", "staff", "static", "support", "sysadmin", "system", "team", "test", "undefined",
        "user", "users", "webmaster", "www", "yjs",
    }
)  # fmt: skip


def _no_controls(value: str, *, allow_newlines: bool = False) -> str:
    if text.refused_character(value, allow=text.MULTILINE if allow_newlines else "") is not None:
        raise ValueError("must not contain control or invisible characters")
    return value


def check_username(value: str) -> str:
    if not USERNAME_RE.fullmatch(value):
        raise ValueError("use 3-32 letters, digits or underscores")
    if value.lower() in RESERVED_USERNAMES:
        raise ValueError("this username is reserved")
    return value


def check_email(value: str) -> str:
    value = value.strip()
    if len(value) > EMAIL_MAX or not EMAIL_RE.fullmatch(value):
        raise ValueError("is not a valid email address")
    return value


def _check_email_field(value: str) -> str:
    # A body says the address exactly (no surrounding spaces), as the schema's pattern does.
    if not EMAIL_RE.fullmatch(value):
        raise ValueError("is not a valid email address")
    return value


def _check_display_name(value: str) -> str:
    value = _no_controls(value).strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _check_bio(value: str) -> str:
    return _no_controls(value, allow_newlines=True).strip()


def _username_pattern() -> str:
    # USERNAME_RE without the reserved names, in any case ("Admin" too), as one JSON Schema pattern.
    reserved = "|".join(
        "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in name)
        for name in sorted(RESERVED_USERNAMES)
    )
    return f"^(?!(?:{reserved})$)[a-zA-Z0-9_]{{3,32}}$"


Username = Annotated[
    str,
    Field(min_length=3, max_length=32, json_schema_extra={"pattern": _username_pattern()}),
    AfterValidator(check_username),
]
Email = Annotated[
    str,
    Field(min_length=3, max_length=EMAIL_MAX, json_schema_extra={"pattern": EMAIL_RE.pattern}),
    AfterValidator(_check_email_field),
]
Password = Annotated[str, Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]
DisplayName = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra=text.schema_pattern(required=True)),
    AfterValidator(_check_display_name),
]
Bio = Annotated[
    str,
    Field(max_length=500, json_schema_extra=text.schema_pattern(allow=text.MULTILINE)),
    AfterValidator(_check_bio),
]


class _In(BaseModel):
    # Unknown fields are refused ("role": "admin" in a sign-up body gets a clear 422), and so are
    # values of another JSON type ("1" for a number, 1 for true), as the schemas say.
    model_config = ConfigDict(extra="forbid", strict=True)


class RegisterIn(_In):
    email: Email
    username: Username
    password: Password = Field(description=f"{PASSWORD_MIN}-{PASSWORD_MAX} characters.")
    display_name: DisplayName | None = None


class LoginIn(_In):
    login: str = Field(min_length=1, max_length=320, description="Email or username.")
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class RefreshIn(_In):
    refresh_token: str = Field(min_length=1, max_length=200)


class ProfileUpdateIn(_In):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    display_name: DisplayName | SkipJsonSchema[None] = None
    bio: Bio | SkipJsonSchema[None] = None

    @field_validator("display_name", "bio", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Leave a field out to keep it; null is not a value of it (the schema says so too).
        if value is None:
            raise ValueError("leave the field out instead of sending null")
        return value

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if self.display_name is None and self.bio is None:
            raise ValueError("send display_name and/or bio")
        return self


class PasswordChangeIn(_In):
    current_password: str | None = Field(
        None,
        max_length=PASSWORD_MAX,
        description="Required when the account has a password (accounts made through an identity "
        "provider may set their first one without it).",
    )
    new_password: Password


class PersonalTokenIn(_In):
    name: DisplayName = Field(description="What the token is for (shown in the list).")
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="Omit for a token that lives until revoked."
    )


class RoleIn(_In):
    # Strict models take enum members only from Python; from JSON the role arrives as a string.
    role: UserRole = Field(strict=False)


class UserPublic(BaseModel):
    user_id: int
    username: str
    display_name: str
    bio: str
    avatar_url: str
    role: UserRole
    created_at: datetime


class UserPrivate(UserPublic):
    email: str
    email_verified: bool
    is_active: bool
    has_password: bool


class SessionOut(BaseModel):
    user: UserPrivate
    csrf_token: str = Field(description="Send as X-CSRF-Token on unsafe cookie requests.")


class TokenPairOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (an OAuth token type)
    expires_in: int = Field(description="Access token lifetime in seconds.")
    refresh_token: str
    refresh_expires_in: int = Field(description="Refresh token lifetime in seconds.")


class RevokeOut(BaseModel):
    revoked: bool = Field(description="False when the token was unknown or already revoked.")


class PersonalTokenOut(BaseModel):
    token_id: int
    name: str
    token_prefix: str = Field(description="The first characters, to tell tokens apart.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class PersonalTokenCreated(BaseModel):
    token: PersonalTokenOut
    secret: str = Field(description="The token itself (hub_pat_...). Shown once, never again.")


class PersonalTokenPage(BaseModel):
    items: list[PersonalTokenOut]
    next_cursor: str | None = None


class ProviderOut(BaseModel):
    name: str
    label: str
    login_url: str


class ProvidersOut(BaseModel):
    providers: list[ProviderOut]


class BrowserSessionOut(BaseModel):
    """One signed-in browser. ``session_ref`` names it without revealing anything that could
    sign in (a digest of the stored digest of the cookie)."""

    session_ref: str
    current: bool = Field(description="The session making this request.")
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str


class BrowserSessionList(BaseModel):
    items: list[BrowserSessionOut] = Field(description="Most recently seen first.")


class SignedOutOut(BaseModel):
    sessions: int = Field(description="Browser sessions ended.")
    token_families: int = Field(description="Refresh-token families (API sign-ins) revoked.")
