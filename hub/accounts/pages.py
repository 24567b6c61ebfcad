"""Browser pages of the accounts domain: ``/login``, ``/register``, ``/logout`` and the OIDC
redirects under ``/auth/oidc/{provider}/``.

The login and register forms have no session yet, so their CSRF protection is a double-submit
token: the page sets it in the HttpOnly ``hub_csrf`` cookie and in a hidden field, and the POST
must carry both, equal (plus the Origin check). The logout form carries the session's own token.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub import site
from hub.accounts import account_settings, identities, oidc, sessions
from hub.accounts.cookies import (
    FORM_CSRF_COOKIE,
    clear_flow_cookie,
    clear_session_cookie,
    set_flow_cookie,
    set_form_csrf_cookie,
    set_session_cookie,
)
from hub.accounts.credentials import socket_closer
from hub.accounts.deps import (
    STATE_REFRESH_COOKIE,
    csrf_token_for,
    current_actor,
    login_browser,
    register_browser,
    reject_foreign_origin,
)
from hub.accounts.schemas import LoginIn, RegisterIn
from hub.accounts.security import new_secret, same_secret
from hub.api import client_ip, user_agent, validate
from hub.context import HubContext, get_ctx
from hub.errors import CSRFFailed, HubError, NotFound, ValidationFailed
from hub.pages import render, to_login

_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _form_token(request: Request) -> str:
    existing = request.cookies.get(FORM_CSRF_COOKIE, "")
    if 32 <= len(existing) <= 64 and set(existing) <= _TOKEN_CHARS:
        return existing
    return new_secret()


def _text(form: FormData, *names: str) -> dict[str, str]:
    # Files or missing fields become "" and fail validation like any empty field.
    return {name: v if isinstance(v := form.get(name), str) else "" for name in names}


def _field_messages(exc: HubError) -> dict[str, str]:
    fields = exc.details.get("fields", []) if isinstance(exc, ValidationFailed) else []
    return {f["field"]: f["message"] for f in fields if isinstance(f, dict) and "field" in f}


async def _signups_open(ctx: HubContext) -> bool:
    """The environment's switch and the admins' run-time one (hub.site) must both allow it."""
    if not ctx.settings.registration_open:
        return False
    async with ctx.db.unit_of_work() as session:
        return (await site.current(session)).signups_open


async def _render_form(
    request: Request,
    template: str,
    *,
    status: int = 200,
    error: HubError | None = None,
    values: dict[str, str] | None = None,
    next_url: str = "/",
) -> Response:
    ctx = get_ctx(request)
    token = _form_token(request)
    # POSTs re-render after a failure; resolving the actor there would run the session CSRF
    # check against a form that carries the double-submit token instead.
    actor = await current_actor(request) if request.method == "GET" else None
    context: dict[str, Any] = {
        "csrf_token": token,
        "session_csrf": csrf_token_for(request),
        "actor": actor,
        "error": error.message if error is not None else None,
        "fields": _field_messages(error) if error is not None else {},
        "values": values or {},
        "next_url": next_url,
        "providers": list(oidc.configured_providers(ctx.settings).values()),
        "registration_open": await _signups_open(ctx),
    }
    headers = error.headers if error is not None else None
    response = render(request, template, context, status_code=status, headers=headers)
    set_form_csrf_cookie(response, ctx.settings, token)
    return response


def _check_form_csrf(request: Request, form: FormData) -> None:
    reject_foreign_origin(request)
    token = form.get("csrf_token")
    expected = request.cookies.get(FORM_CSRF_COOKIE)
    if not expected or not isinstance(token, str) or not same_secret(token, expected):
        raise CSRFFailed("The form expired or was not sent from this site; please try again.")


def _signed_in(request: Request, started: sessions.StartedSession, next_url: str) -> Response:
    settings = get_ctx(request).settings
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, settings, started.cookie_value, started.max_age)
    response.delete_cookie(FORM_CSRF_COOKIE, path="/")
    return response


async def login_page(request: Request) -> Response:
    next_url = oidc.safe_next(request.query_params.get("next"))
    return await _render_form(request, "accounts/login.html", next_url=next_url)


async def login_submit(request: Request) -> Response:
    form = await request.form()
    values = _text(form, "login", "password", "next")
    next_url = oidc.safe_next(values.pop("next"))
    try:
        _check_form_csrf(request, form)
        body = validate(LoginIn, values)
        started = await login_browser(request, body)
    except HubError as exc:
        shown = {"login": values["login"]}
        return await _render_form(
            request, "accounts/login.html", status=exc.status, error=exc, values=shown,
            next_url=next_url,
        )  # fmt: skip
    return _signed_in(request, started, next_url)


async def register_page(request: Request) -> Response:
    next_url = oidc.safe_next(request.query_params.get("next"))
    return await _render_form(request, "accounts/register.html", next_url=next_url)


async def register_submit(request: Request) -> Response:
    form = await request.form()
    values = _text(form, "email", "username", "password", "display_name", "next")
    next_url = oidc.safe_next(values.pop("next"))
    try:
        _check_form_csrf(request, form)
        body = validate(RegisterIn, {k: v for k, v in values.items() if v or k != "display_name"})
        started = await register_browser(request, body)
    except HubError as exc:
        shown = {k: v for k, v in values.items() if k != "password"}
        return await _render_form(
            request, "accounts/register.html", status=exc.status, error=exc, values=shown,
            next_url=next_url,
        )  # fmt: skip
    return _signed_in(request, started, next_url)


async def logout_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor is None or actor.auth != "session":
        return RedirectResponse("/login", status_code=303)
    return await _render_form(request, "accounts/logout.html")


async def logout_submit(request: Request) -> Response:
    """The session's CSRF token comes in the form's ``csrf_token`` field (checked by
    :func:`current_actor` for every cookie-authenticated POST)."""
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        await sessions.logout(session, actor, sockets=socket_closer(ctx))
    request.scope.setdefault("state", {}).pop(STATE_REFRESH_COOKIE, None)
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response, ctx.settings)
    return response


def _provider(ctx: HubContext, name: str) -> oidc.Provider:
    provider = oidc.configured_providers(ctx.settings).get(name)
    if provider is None:
        raise NotFound("No such identity provider.")
    return provider


async def oidc_login(request: Request) -> Response:
    ctx = get_ctx(request)
    provider = _provider(ctx, request.path_params["provider"])
    metadata = await ctx.oidc.metadata(provider)
    next_url = request.query_params.get("next")
    url, flow_cookie = oidc.begin(ctx.settings, provider, metadata, next_url=next_url)
    response = RedirectResponse(url, status_code=302)
    set_flow_cookie(response, ctx.settings, oidc.FLOW_COOKIE, flow_cookie)
    return response


async def oidc_callback(request: Request) -> Response:
    ctx = get_ctx(request)
    provider = _provider(ctx, request.path_params["provider"])
    cookie = request.cookies.get(oidc.FLOW_COOKIE)
    claims, next_url = await ctx.oidc.complete(
        ctx.settings, provider, query=dict(request.query_params), flow_cookie=cookie
    )
    async with ctx.db.unit_of_work() as session:
        started = await identities.start_identity_session(
            session,
            sockets=socket_closer(ctx),
            provider=provider.name,
            claims=claims,
            ip=client_ip(request),
            user_agent=user_agent(request),
            replaces=request.cookies.get(ctx.settings.session_cookie_name),
        )
    response = _signed_in(request, started, next_url)
    clear_flow_cookie(response, ctx.settings, oidc.FLOW_COOKIE)
    return response


async def settings_page(request: Request) -> Response:
    """``/settings``: profile, avatar, password, personal tokens and signed-in browsers. Its
    forms call the JSON API from static/js/settings.js with the session's CSRF token."""
    actor = await current_actor(request)
    if actor is None:
        return to_login(request)
    async with get_ctx(request).db.unit_of_work() as session:
        view = await account_settings.read_settings(session, actor)
    context = {"actor": actor, "view": view, "csrf_token": csrf_token_for(request) or ""}
    return render(request, "accounts/settings.html", context)


routes: list[BaseRoute] = [
    Route("/settings", settings_page, methods=["GET"], name="settings"),
    Route("/login", login_page, methods=["GET"], name="login"),
    Route("/login", login_submit, methods=["POST"], name="login_submit"),
    Route("/register", register_page, methods=["GET"], name="register"),
    Route("/register", register_submit, methods=["POST"], name="register_submit"),
    Route("/logout", logout_page, methods=["GET"], name="logout"),
    Route("/logout", logout_submit, methods=["POST"], name="logout_submit"),
    Route("/auth/oidc/{provider}/login", oidc_login, methods=["GET"], name="oidc_login"),
    Route("/auth/oidc/{provider}/callback", oidc_callback, methods=["GET"], name="oidc_callback"),
]
