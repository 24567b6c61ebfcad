"""The browser cookies of the accounts domain and the middleware that keeps sessions sliding.

- ``hub_session``: the session secret; HttpOnly, SameSite=Lax, Path=/, Secure behind https.
- ``hub_csrf``: the double-submit token for the login and register forms, which have no session
  yet to hold a CSRF token.
- ``hub_oidc``: the signed OIDC flow state between login redirect and callback (Path=/auth/oidc).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.accounts.deps import STATE_REFRESH_COOKIE
from hub.settings import Settings

FORM_CSRF_COOKIE = "hub_csrf"
OIDC_COOKIE_PATH = "/auth/oidc"


def set_session_cookie(response: Response, settings: Settings, value: str, max_age: int) -> None:
    response.set_cookie(
        settings.session_cookie_name,
        value,
        max_age=max_age,
        path="/",
        secure=settings.https,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.session_cookie_name, path="/", secure=settings.https, httponly=True, samesite="lax"
    )


def set_form_csrf_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        FORM_CSRF_COOKIE,
        value,
        max_age=3600,
        path="/",
        secure=settings.https,
        httponly=True,
        samesite="lax",
    )


def set_flow_cookie(response: Response, settings: Settings, name: str, value: str) -> None:
    # SameSite=Lax still travels on the provider's top-level redirect back to the callback.
    response.set_cookie(
        name,
        value,
        max_age=600,
        path=OIDC_COOKIE_PATH,
        secure=settings.https,
        httponly=True,
        samesite="lax",
    )


def clear_flow_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name, path=OIDC_COOKIE_PATH, secure=settings.https, httponly=True, samesite="lax"
    )


class SessionCookieMiddleware:
    """Re-sends the session cookie when :func:`hub.accounts.deps.current_actor` slid the session's
    expiry, so an active browser keeps its session for ``session_max_age`` after its last visit
    rather than after its login. A response that sets or clears the cookie itself (login,
    logout) wins."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._prefix = f"{settings.session_cookie_name}=".encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = scope.get("state", {}).get(STATE_REFRESH_COOKIE)
                raw = message["headers"] = list(message.get("headers", []))
                already = any(
                    k.lower() == b"set-cookie" and v.startswith(self._prefix) for k, v in raw
                )
                if value and not already:
                    carrier = Response()
                    set_session_cookie(carrier, self.settings, value, self.settings.session_max_age)
                    headers = MutableHeaders(scope=message)
                    for key, cookie in carrier.raw_headers:
                        if key == b"set-cookie":
                            headers.append("set-cookie", cookie.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
