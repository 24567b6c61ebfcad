"""Errors of the accounts domain. Each renders the hub's one error shape (docs/errors.md)."""

from __future__ import annotations

from hub.errors import BadRequest, Conflict, Forbidden, ValidationFailed


class AccountDisabled(Forbidden):
    """The credentials are right but the account was deactivated by an admin."""

    default_message = "This account is disabled."


class RegistrationClosed(Forbidden):
    default_message = "Registration is closed on this hub."


class EmailTaken(Conflict):
    default_message = "An account with this email already exists."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, field="email")


class UsernameTaken(Conflict):
    default_message = "This username is taken."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, field="username")


class SelfDisable(Conflict):
    default_message = "You cannot disable your own account; ask another admin."


class LastAdmin(Conflict):
    default_message = "The hub needs at least one admin; promote someone else first."


class OIDCFailed(BadRequest):
    """The identity provider's answer could not be trusted or used (state, token, claims)."""

    default_message = "Signing in with the identity provider failed."


def field_error(field: str, message: str, kind: str = "value_error") -> ValidationFailed:
    """A 422 about one field, shaped like the ones request validation produces."""
    return ValidationFailed(fields=[{"field": field, "message": message, "type": kind}])
