"""The navigation shell every page shares (templates/base.html): the signed-in person, their
credits balance, the language and time zone pages are shown in, the side menu's links, and the
language switch ``POST /settings/language``.

:class:`ShellMiddleware` chooses the request's language before any handler runs (so error pages
are translated too) and, for a page of a signed-in person, resolves the actor and reads the
balance once: templates render synchronously and cannot query. :func:`shell_context` hands it
all to every template (docs/web.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import i18n, site
from hub.accounts import preferences
from hub.accounts.actor import Actor
from hub.accounts.deps import STATE_ACTOR, csrf_token_for, current_actor, reject_foreign_origin
from hub.context import get_ctx
from hub.credits import service as credits_service
from hub.errors import HubError, ValidationFailed

log = logging.getLogger(__name__)

STATE_BALANCE = "hub_shell_balance"
STATE_ANNOUNCEMENT = "hub_shell_announcement"
# Paths that are never pages: no actor, balance or catalogue work for them.
NOT_PAGES = ("/api/v1/", "/static/", "/media/", "/yjs/", "/healthz", "/readyz", "/metrics")
LANG_COOKIE_AGE = 365 * 24 * 3600


def _is_page(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return not path.startswith(NOT_PAGES) and not path.endswith("/events")


def request_locale(conn: HTTPConnection, actor: Actor | None) -> str:
    """The account's choice, else the visitor's switch (cookie), else Accept-Language."""
    return (
        (actor.locale if actor and actor.locale in i18n.LOCALES else None)
        or i18n.normalize_locale(conn.cookies.get(i18n.LANG_COOKIE))
        or i18n.negotiate(conn.headers.get("accept-language"))
        or i18n.DEFAULT_LOCALE
    )


class ShellMiddleware:
    """Sets the request's language and time zone (hub.i18n) and, for a page a signed-in person
    reads (GET), the balance the header shows."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        actor = None
        if _is_page(scope) and scope.get("method") in ("GET", "HEAD"):
            actor = await _page_actor(conn)
            await _read_announcement(conn)
        i18n.set_current(request_locale(conn, actor), actor.timezone if actor else None)
        if not _is_page(scope):
            await self.app(scope, receive, send)
            return

        async def send_varying(message: Message) -> None:
            # A page's words depend on these request headers: shared caches must key on them.
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Accept-Language")
                headers.add_vary_header("Cookie")
            await send(message)

        await self.app(scope, receive, send_varying)


async def _page_actor(conn: HTTPConnection) -> Actor | None:
    """The actor of a page request (cached for its handler) with the balance in its state; None
    without credentials. A bad credential is left for the handler to refuse."""
    ctx = get_ctx(conn)
    if "authorization" not in conn.headers and ctx.settings.session_cookie_name not in conn.cookies:
        return None
    try:
        actor = await current_actor(conn)
        if actor is None:
            return None
        async with ctx.db.unit_of_work() as session:
            wallet = await credits_service.get_balance(session, actor.user_id)
    except HubError:
        return None
    conn.scope.setdefault("state", {})[STATE_BALANCE] = wallet.balance
    return actor


async def _read_announcement(conn: HTTPConnection) -> None:
    """The admins' banner (``/admin/site``), from the process's site-settings copy (read from
    the database at most every ``HUB_SITE_CACHE_SECONDS``)."""
    ctx = get_ctx(conn)
    try:
        async with ctx.db.unit_of_work() as session:
            text = (await site.current(session)).announcement
    except Exception:  # a page without its banner beats no page (the database is down)
        log.warning("site settings unreadable; no announcement shown", exc_info=True)
        return
    conn.scope.setdefault("state", {})[STATE_ANNOUNCEMENT] = text


@dataclass(frozen=True)
class Shell:
    """What templates/base.html shows, as ``shell``."""

    locale: str
    lang: str
    zone: str | None
    actor: Actor | None
    balance: int | None
    csrf: str | None
    path: str
    languages: list[i18n.Language]
    paths: frozenset[str] = field(default_factory=frozenset)
    announcement: str = ""

    def has(self, path: str) -> bool:
        """Whether the app serves ``path`` (the menu links only to pages that exist)."""
        return path in self.paths

    def current(self, path: str) -> bool:
        here = self.path.split("?")[0]
        return here == path or (path != "/" and here.startswith(path + "/"))


def _page_paths(request: Request) -> frozenset[str]:
    cached: frozenset[str] | None = getattr(request.app.state, "shell_paths", None)
    if cached is None:
        routes = getattr(request.app, "routes", [])
        cached = frozenset(
            r.path for r in routes if isinstance(r, Route) and "{" not in r.path and r.methods
        )
        request.app.state.shell_paths = cached
    return cached


def shell_context(request: Request) -> dict[str, Any]:
    """Jinja context processor (hub.app): ``shell`` for templates/base.html. Re-reads the
    language when a handler resolved an account the middleware had not (a form post)."""
    state = request.scope.get("state") or {}
    actor: Actor | None = state.get(STATE_ACTOR)
    locale = request_locale(request, actor)
    zone = actor.timezone if actor else None
    i18n.set_current(locale, zone)
    query = request.url.query
    return {
        "shell": Shell(
            locale=locale,
            lang=i18n.html_lang(),
            zone=zone,
            actor=actor,
            balance=state.get(STATE_BALANCE) if actor else None,
            csrf=csrf_token_for(request),
            path=request.url.path + (f"?{query}" if query else ""),
            languages=i18n.languages(),
            paths=_page_paths(request),
            announcement=state.get(STATE_ANNOUNCEMENT) or "",
        )
    }


def _safe_next(value: object) -> str:
    """A path on this site to go back to (never another host)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return "/"
    return value[:2000]


async def language_form(request: Request) -> Response:
    """``POST /settings/language`` (the switch in the header): for a signed-in person, the
    account's language (CSRF-checked by current_actor); for a visitor, a cookie only. Back to
    the page it was sent from."""
    actor = await current_actor(request)
    if actor is None:
        reject_foreign_origin(request)  # a visitor's switch changes nothing but their cookie
    form = await request.form()
    locale = form.get("locale")
    if not isinstance(locale, str) or locale not in i18n.LOCALES:
        raise ValidationFailed(
            "Choose one of the languages.",
            fields=[{"field": "locale", "message": "one of: " + ", ".join(i18n.LOCALES)}],
        )
    if actor is not None:
        async with get_ctx(request).db.unit_of_work() as session:
            await preferences.update_preferences(
                session,
                actor,
                preferences.PreferencesIn(locale=locale),  # type: ignore[arg-type]
            )
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    settings = get_ctx(request).settings
    response.set_cookie(
        i18n.LANG_COOKIE,
        locale,
        max_age=LANG_COOKIE_AGE,
        path="/",
        secure=settings.https,
        httponly=True,
        samesite="lax",
    )
    return response


routes: list[BaseRoute] = [
    Route("/settings/language", language_form, methods=["POST"], name="language_form"),
]
