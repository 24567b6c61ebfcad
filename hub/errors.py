"""One error shape for the whole API.

Every expected failure is a :class:`HubError` subclass with a stable machine-readable
``code`` and an HTTP ``status``. The handlers in :func:`install_handlers` render them as
``{"error": {"code": ..., "message": ..., "details": ...}}`` for API routes and as
``templates/error.html`` for pages. An expected conflict is never a 500, and neither is a
database that cannot be reached (503 ``unavailable``, see :func:`database_unavailable`).
See docs/errors.md (checked by tests/hub/test_error_shape.py).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.templating import Jinja2Templates
from starlette.websockets import WebSocket

from rooms import close_codes

log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    bad_request = "bad_request"
    invalid_json = "invalid_json"
    validation_error = "validation_error"
    unauthenticated = "unauthenticated"
    invalid_credentials = "invalid_credentials"
    token_expired = "token_expired"  # noqa: S105 (an error code, not a secret)
    token_invalid = "token_invalid"  # noqa: S105
    token_reused = "token_reused"  # noqa: S105
    csrf_failed = "csrf_failed"
    forbidden = "forbidden"
    not_found = "not_found"
    method_not_allowed = "method_not_allowed"
    conflict = "conflict"
    payload_too_large = "payload_too_large"
    unsupported_media_type = "unsupported_media_type"
    rate_limited = "rate_limited"
    insufficient_credits = "insufficient_credits"
    prompt_blocked = "prompt_blocked"
    upload_rejected = "upload_rejected"
    room_closed = "room_closed"
    room_full = "room_full"
    invite_expired = "invite_expired"
    invite_revoked = "invite_revoked"
    invite_exhausted = "invite_exhausted"
    unavailable = "unavailable"
    internal_error = "internal_error"


class HubError(Exception):
    """Base of every expected error. Subclasses set ``code`` and ``status`` defaults."""

    code: ErrorCode = ErrorCode.bad_request
    status: int = 400
    default_message = "Bad request."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: ErrorCode | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.details = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class BadRequest(HubError):
    code = ErrorCode.bad_request
    status = 400
    default_message = "Bad request."


class InvalidJSON(HubError):
    code = ErrorCode.invalid_json
    status = 400
    default_message = "The request body is not valid JSON."


class ValidationFailed(HubError):
    code = ErrorCode.validation_error
    status = 422
    default_message = "Some fields are invalid."


class Unauthenticated(HubError):
    code = ErrorCode.unauthenticated
    status = 401
    default_message = "Sign in first."


class InvalidCredentials(HubError):
    code = ErrorCode.invalid_credentials
    status = 401
    default_message = "Wrong email/username or password."


class TokenExpired(HubError):
    code = ErrorCode.token_expired
    status = 401
    default_message = "The token has expired."


class TokenInvalid(HubError):
    code = ErrorCode.token_invalid
    status = 401
    default_message = "The token is not valid."


class TokenReused(HubError):
    code = ErrorCode.token_reused
    status = 401
    default_message = "This refresh token was already used; every token of its family was revoked."


class CSRFFailed(HubError):
    code = ErrorCode.csrf_failed
    status = 403
    default_message = "Missing or wrong CSRF token."


class Forbidden(HubError):
    code = ErrorCode.forbidden
    status = 403
    default_message = "You are not allowed to do that."


class NotFound(HubError):
    code = ErrorCode.not_found
    status = 404
    default_message = "Not found."


class Conflict(HubError):
    code = ErrorCode.conflict
    status = 409
    default_message = "That conflicts with the current state."


class PayloadTooLarge(HubError):
    code = ErrorCode.payload_too_large
    status = 413
    default_message = "The request body is too large."


class UnsupportedMediaType(HubError):
    code = ErrorCode.unsupported_media_type
    status = 415
    default_message = "Send application/json."


class RateLimited(HubError):
    code = ErrorCode.rate_limited
    status = 429
    default_message = "Too many requests; try again later."


class InsufficientCredits(HubError):
    code = ErrorCode.insufficient_credits
    status = 402
    default_message = "Not enough credits."


class Unavailable(HubError):
    code = ErrorCode.unavailable
    status = 503
    default_message = "A dependency is unavailable; try again shortly."


_STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.bad_request,
    401: ErrorCode.unauthenticated,
    403: ErrorCode.forbidden,
    404: ErrorCode.not_found,
    405: ErrorCode.method_not_allowed,
    409: ErrorCode.conflict,
    413: ErrorCode.payload_too_large,
    415: ErrorCode.unsupported_media_type,
    429: ErrorCode.rate_limited,
}


def all_error_classes() -> list[type[HubError]]:
    """Every HubError subclass (imported so far), for docs and tests."""
    seen: list[type[HubError]] = []
    stack: list[type[HubError]] = [HubError]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    return seen


def wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept


def _render(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str]
) -> Response:
    if wants_html(request):
        templates: Jinja2Templates | None = getattr(request.app.state, "templates", None)
        if templates is not None:
            return templates.TemplateResponse(
                request,
                "error.html",
                {"status": status, "error": body["error"]},
                status_code=status,
                headers=headers,
            )
    return JSONResponse(body, status_code=status, headers=headers)


async def hub_error_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HubError):  # pragma: no cover - registered for HubError only
        raise exc
    return _render(request, exc.status, exc.to_dict(), exc.headers)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover
        raise exc
    code = _STATUS_CODES.get(exc.status_code, ErrorCode.bad_request)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    body = {"error": {"code": str(code), "message": message}}
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return _render(request, exc.status_code, body, headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods served at this request's path, for the ``Allow`` header of a 405.

    Starlette's own 405 names only the methods of the first route whose path matched, but a path
    often has one route per method. The first route that matches names the path template (as
    Starlette would route it); every route with that template adds its methods.
    """
    flat: list[tuple[str, Route]] = []
    stack: list[tuple[str, Any]] = [("", route) for route in reversed(request.app.router.routes)]
    while stack:
        prefix, route = stack.pop()
        if isinstance(route, Mount):
            stack.extend((prefix + route.path, sub) for sub in reversed(route.routes))
        elif isinstance(route, Route):
            flat.append((prefix, route))
    path = request.url.path
    template = next(
        (
            prefix + route.path
            for prefix, route in flat
            if path.startswith(prefix) and route.path_regex.fullmatch(path.removeprefix(prefix))
        ),
        None,
    )
    methods: set[str] = set()
    for prefix, route in flat:
        if prefix + route.path == template:
            methods |= route.methods or set()
    return sorted(methods)


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    body = {"error": {"code": str(ErrorCode.internal_error), "message": "Internal server error."}}
    return _render(request, 500, body, {})


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached now (link down or reset, server
    restarting, no free connection in time), not that the query or the code is wrong."""
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.OperationalError | sa_exc.InterfaceError):
        return True  # pool timeout; connection refused/reset, server shutting down, locked
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated)
    # Opening a connection: asyncpg raises OSError (refused, reset) or TimeoutError unwrapped.
    return isinstance(exc, ConnectionError | TimeoutError)


UNAVAILABLE_RETRY_AFTER = "2"


async def unavailable_error_handler(conn: Request | WebSocket, exc: Exception) -> Response | None:
    """A database (or another dependency's link) that is down is 503 ``unavailable``, not a
    500; on a socket, a close that stock clients retry. Other database errors are bugs."""
    if not database_unavailable(exc):
        if isinstance(conn, WebSocket):
            log.exception("unhandled error", exc_info=exc)
            await conn.close(close_codes.INTERNAL_ERROR)
            return None
        return await unhandled_error_handler(conn, exc)
    log.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
    if isinstance(conn, WebSocket):
        await conn.close(close_codes.TRY_AGAIN_LATER)
        return None
    error = Unavailable(
        "The database is unavailable; try again shortly.",
        headers={"retry-after": UNAVAILABLE_RETRY_AFTER},
    )
    return _render(conn, error.status, error.to_dict(), error.headers)


def install_handlers() -> dict[Any, Any]:
    return {
        HubError: hub_error_handler,
        HTTPException: http_exception_handler,
        sa_exc.DBAPIError: unavailable_error_handler,
        sa_exc.TimeoutError: unavailable_error_handler,
        ConnectionError: unavailable_error_handler,
        TimeoutError: unavailable_error_handler,
        Exception: unhandled_error_handler,
    }
