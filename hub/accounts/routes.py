"""Accounts JSON API under ``/api/v1`` (the HTML pages and OIDC redirects are in pages.py).

Handlers parse, resolve the actor, call one service function and render; the rules (rate
limits, CSRF, permissions) live in the service and in :mod:`hub.accounts.deps`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.accounts import avatar, oidc, preferences, sessions, tokens, users
from hub.accounts.cookies import clear_session_cookie, set_session_cookie
from hub.accounts.credentials import socket_closer
from hub.accounts.deps import (
    STATE_REFRESH_COOKIE,
    csrf_token_for,
    current_actor,
    login_browser,
    register_browser,
    reject_foreign_origin,
    require_actor,
)
from hub.accounts.errors import AccountDisabled, EmailTaken, LastAdmin, RegistrationClosed
from hub.accounts.pages import routes as page_routes
from hub.accounts.schemas import (
    USERNAME_RE,
    BrowserSessionList,
    LoginIn,
    PasswordChangeIn,
    PersonalTokenCreated,
    PersonalTokenIn,
    PersonalTokenPage,
    ProfileUpdateIn,
    ProviderOut,
    ProvidersOut,
    RefreshIn,
    RegisterIn,
    RevokeOut,
    RoleIn,
    SessionOut,
    SignedOutOut,
    TokenPairOut,
    UserPrivate,
    UserPublic,
)
from hub.api import (
    Refusal,
    client_ip,
    json_response,
    operation,
    parse_body,
    parse_query,
    path_int,
)
from hub.context import get_ctx
from hub.errors import (
    CSRFFailed,
    ErrorCode,
    Forbidden,
    InvalidCredentials,
    NotFound,
    RateLimited,
    TokenExpired,
    TokenInvalid,
    TokenReused,
)
from hub.pagination import PageParams
from hub.settings import Settings

TAGS = ("accounts",)
AUTH_ERRORS = (TokenInvalid, CSRFFailed)
UNKNOWN_ZONE = Refusal(
    422,
    ErrorCode.validation_error,
    "A time zone name that the server's time zone database does not know (IANA names only, "
    "e.g. Europe/Paris).",
    field="timezone",
    kind="value_error",
)
WEAK_PASSWORD = Refusal(
    422,
    ErrorCode.validation_error,
    "A password that is too easy to guess: a common one, fewer than 3 different characters, or "
    "the username or the email's local part.",
    field="password",
    kind="weak_password",
)


# Ids are 64-bit in the database; 18 digits is what path_int accepts at most.
ID_MAX = 10**18 - 1


def int_param(request: Request, name: str) -> int:
    return path_int(request, name, maximum=ID_MAX)


def session_response(settings: Settings, started: sessions.StartedSession, status: int) -> Response:
    body = SessionOut(user=users.user_private(started.user), csrf_token=started.csrf_token)
    response = json_response(body, status=status)
    set_session_cookie(response, settings, started.cookie_value, started.max_age)
    return response


@operation(
    "Create an account and sign the browser in",
    request=RegisterIn,
    response=SessionOut,
    status=201,
    errors=(EmailTaken, RegistrationClosed, RateLimited),
    tags=TAGS,
    refuses=(WEAK_PASSWORD,),
)
async def register(request: Request) -> Response:
    """Sets the `hub_session` cookie; the body carries the CSRF token for later unsafe requests.
    409 `conflict` (with `details.field`) when the email or username is taken, case-insensitive."""
    reject_foreign_origin(request)
    body = await parse_body(request, RegisterIn)
    started = await register_browser(request, body)
    return session_response(get_ctx(request).settings, started, 201)


@operation(
    "Sign the browser in with email or username and password",
    request=LoginIn,
    response=SessionOut,
    errors=(InvalidCredentials, AccountDisabled, RateLimited, CSRFFailed),
    tags=TAGS,
)
async def login(request: Request) -> Response:
    """Rate-limited per account (`HUB_RATE_LIMIT_LOGIN`) and per client IP
    (`HUB_RATE_LIMIT_LOGIN_IP`). Unknown accounts and wrong passwords get the same 401
    `invalid_credentials`."""
    reject_foreign_origin(request)
    body = await parse_body(request, LoginIn)
    started = await login_browser(request, body)
    return session_response(get_ctx(request).settings, started, 200)


@operation("End the browser session", status=204, errors=(CSRFFailed,), tags=TAGS)
async def logout(request: Request) -> Response:
    """Deletes the session row (the cookie is worthless afterwards, even if replayed) and clears
    the cookie. Needs the CSRF token when a live session is behind the cookie."""
    actor = await current_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        await sessions.logout(session, actor, sockets=socket_closer(ctx))
    request.scope.setdefault("state", {}).pop(STATE_REFRESH_COOKIE, None)
    response = Response(status_code=204)
    clear_session_cookie(response, ctx.settings)
    return response


@operation(
    "The current browser session and its CSRF token",
    response=SessionOut,
    auth=True,
    schemes=("session",),
    tags=TAGS,
)
async def session_info(request: Request) -> Response:
    """For a page that lost the CSRF token it got at login (the cookie itself is HttpOnly)."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        out = await sessions.session_view(session, actor, csrf_token=csrf_token_for(request))
    return json_response(out)


@operation(
    "Get an access token and a refresh token (password grant)",
    request=LoginIn,
    response=TokenPairOut,
    errors=(InvalidCredentials, AccountDisabled, RateLimited),
    tags=TAGS,
)
async def token(request: Request) -> Response:
    """For scripts and API clients: `Authorization: Bearer <access_token>`; renew with
    `/auth/refresh` before `expires_in` runs out."""
    body = await parse_body(request, LoginIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        pair = await tokens.issue_tokens(
            session,
            limiter=ctx.limiter,
            login=body.login,
            password=body.password,
            ip=client_ip(request),
        )
    return json_response(pair)


@operation(
    "Rotate a refresh token",
    request=RefreshIn,
    response=TokenPairOut,
    errors=(TokenInvalid, TokenExpired, TokenReused, AccountDisabled),
    tags=TAGS,
)
async def refresh(request: Request) -> Response:
    """Each refresh token works once. Presenting a used one revokes its whole family (every
    refresh and access token descended from that sign-in): 401 `token_reused`."""
    body = await parse_body(request, RefreshIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        outcome = await tokens.rotate_refresh_token(
            session,
            sockets=socket_closer(ctx),
            refresh_token=body.refresh_token,
        )
    return json_response(outcome.unwrap())


@operation(
    "Revoke a refresh token and its family", request=RefreshIn, response=RevokeOut, tags=TAGS
)
async def revoke(request: Request) -> Response:
    """Signs an API client out; its access tokens stop working at once too."""
    body = await parse_body(request, RefreshIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        revoked = await tokens.revoke_refresh_token(
            session, sockets=socket_closer(ctx), refresh_token=body.refresh_token
        )
    return json_response(RevokeOut(revoked=revoked))


@operation("Identity providers configured for sign-in", response=ProvidersOut, tags=TAGS)
async def providers(request: Request) -> Response:
    settings = get_ctx(request).settings
    found = oidc.configured_providers(settings)
    items = [
        ProviderOut(name=p.name, label=p.label, login_url=f"/auth/oidc/{p.name}/login")
        for p in found.values()
    ]
    return json_response(ProvidersOut(providers=items))


@operation("The signed-in user", response=UserPrivate, auth=True, errors=AUTH_ERRORS, tags=TAGS)
async def me(request: Request) -> Response:
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        user = await users.access_me(session, actor)
    return json_response(users.user_private(user))


@operation(
    "Update the signed-in user's profile",
    request=ProfileUpdateIn,
    response=UserPrivate,
    auth=True,
    errors=AUTH_ERRORS,
    tags=TAGS,
)
async def update_me(request: Request) -> Response:
    actor = await require_actor(request)
    body = await parse_body(request, ProfileUpdateIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        user = await users.update_profile(
            session, actor, display_name=body.display_name, bio=body.bio
        )
    return json_response(users.user_private(user))


@operation(
    "The signed-in user's language and time zone",
    response=preferences.PreferencesOut,
    auth=True,
    errors=AUTH_ERRORS,
    tags=TAGS,
)
async def get_preferences(request: Request) -> Response:
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        prefs = await preferences.get_preferences(session, actor)
    return json_response(prefs)


@operation(
    "Choose the language and time zone of the pages",
    request=preferences.PreferencesIn,
    response=preferences.PreferencesOut,
    auth=True,
    errors=AUTH_ERRORS,
    tags=TAGS,
    refuses=(UNKNOWN_ZONE,),
)
async def update_preferences(request: Request) -> Response:
    """Fields left out are kept; `null` clears a choice (the browser decides again)."""
    actor = await require_actor(request)
    body = await parse_body(request, preferences.PreferencesIn)
    async with get_ctx(request).db.unit_of_work() as session:
        prefs = await preferences.update_preferences(session, actor, body)
    return json_response(prefs)


@operation(
    "Change the password",
    request=PasswordChangeIn,
    status=204,
    auth=True,
    errors=(*AUTH_ERRORS, Forbidden, RateLimited),
    tags=TAGS,
    refuses=(WEAK_PASSWORD,),
)
async def change_password(request: Request) -> Response:
    """Ends every other browser session and every refresh-token family; the credential making the
    request stays signed in. 403 `invalid_credentials` when `current_password` is wrong."""
    actor = await require_actor(request)
    body = await parse_body(request, PasswordChangeIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        await sessions.change_password(
            session,
            actor,
            limiter=ctx.limiter,
            sockets=socket_closer(ctx),
            current_password=body.current_password,
            new_password=body.new_password,
        )
    return Response(status_code=204)


@operation(
    "List my personal API tokens",
    query=PageParams,
    response=PersonalTokenPage,
    auth=True,
    errors=AUTH_ERRORS,
    tags=TAGS,
)
async def list_tokens(request: Request) -> Response:
    actor = await require_actor(request)
    params = parse_query(request, PageParams)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        page = await tokens.list_personal_tokens(session, actor, params=params)
    return json_response(page)


@operation(
    "Create a personal API token",
    request=PersonalTokenIn,
    response=PersonalTokenCreated,
    status=201,
    auth=True,
    errors=(*AUTH_ERRORS, Forbidden),
    tags=TAGS,
)
async def create_token(request: Request) -> Response:
    """The secret (`hub_pat_...`) is in this response only; the hub keeps just its digest."""
    actor = await require_actor(request)
    body = await parse_body(request, PersonalTokenIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        row, secret = await tokens.create_my_token(
            session, actor, name=body.name, expires_in_days=body.expires_in_days
        )
    created = PersonalTokenCreated(token=tokens.personal_token_out(row), secret=secret)
    return json_response(created, status=201)


@operation(
    "Revoke a personal API token",
    status=204,
    auth=True,
    errors=(*AUTH_ERRORS, NotFound),
    tags=TAGS,
)
async def delete_token(request: Request) -> Response:
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        await tokens.revoke_personal_token(
            session, actor, sockets=socket_closer(ctx), token_id=int_param(request, "token_id")
        )
    return Response(status_code=204)


@operation(
    "List my signed-in browsers",
    response=BrowserSessionList,
    auth=True,
    errors=(*AUTH_ERRORS, Forbidden),
    tags=TAGS,
)
async def list_sessions(request: Request) -> Response:
    """Browser sessions only (API sign-ins are refresh-token families, personal tokens are at
    ``/me/tokens``); ``current`` marks the one asking. Personal tokens get 403."""
    actor = await require_actor(request)
    async with get_ctx(request).db.unit_of_work() as session:
        listed = await sessions.list_my_sessions(session, actor)
    return json_response(listed)


@operation(
    "Sign out everywhere else",
    response=SignedOutOut,
    auth=True,
    errors=(*AUTH_ERRORS, Forbidden),
    tags=TAGS,
)
async def delete_sessions(request: Request) -> Response:
    """Ends every other browser session and every other refresh-token family, closing the
    sockets they admitted; the credential making the request stays. Personal tokens stay too
    (and get 403 here)."""
    actor = await require_actor(request)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        ended = await sessions.sign_out_elsewhere(session, actor, sockets=socket_closer(ctx))
    return json_response(ended)


@operation("A user's public profile", response=UserPublic, errors=(NotFound,), tags=TAGS)
async def profile(request: Request) -> Response:
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        out = await users.access_profile(session, username=request.path_params["username"])
    return json_response(out)


@operation("A user's default avatar (SVG identicon)", errors=(NotFound,), tags=TAGS)
async def avatar_svg(request: Request) -> Response:
    """The default avatar: derived from the name alone, so no database read and long caching."""
    username = request.path_params["username"]
    if not USERNAME_RE.match(username):
        raise NotFound("No such user.")
    return Response(
        avatar.identicon_svg(username),
        media_type="image/svg+xml",
        headers={"cache-control": "public, max-age=86400"},
    )


@operation(
    "Change a user's role (admins only)",
    request=RoleIn,
    response=UserPublic,
    auth=True,
    errors=(*AUTH_ERRORS, Forbidden, NotFound, LastAdmin),
    tags=("admin",),
)
async def set_role(request: Request) -> Response:
    actor = await require_actor(request)
    body = await parse_body(request, RoleIn)
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        user = await users.set_role(
            session,
            actor,
            sockets=socket_closer(ctx),
            user_id=int_param(request, "user_id"),
            role=body.role,
        )
    return json_response(users.user_public(user))


API = "/api/v1"

routes: list[BaseRoute] = [
    Route(f"{API}/auth/register", register, methods=["POST"]),
    Route(f"{API}/auth/login", login, methods=["POST"]),
    Route(f"{API}/auth/logout", logout, methods=["POST"]),
    Route(f"{API}/auth/session", session_info, methods=["GET"]),
    Route(f"{API}/auth/token", token, methods=["POST"]),
    Route(f"{API}/auth/refresh", refresh, methods=["POST"]),
    Route(f"{API}/auth/revoke", revoke, methods=["POST"]),
    Route(f"{API}/auth/providers", providers, methods=["GET"]),
    Route(f"{API}/me", me, methods=["GET"]),
    Route(f"{API}/me", update_me, methods=["PATCH"]),
    Route(f"{API}/me/preferences", get_preferences, methods=["GET"]),
    Route(f"{API}/me/preferences", update_preferences, methods=["PATCH"]),
    Route(f"{API}/me/password", change_password, methods=["POST"]),
    Route(f"{API}/me/tokens", list_tokens, methods=["GET"]),
    Route(f"{API}/me/sessions", list_sessions, methods=["GET"]),
    Route(f"{API}/me/sessions", delete_sessions, methods=["DELETE"]),
    Route(f"{API}/me/tokens", create_token, methods=["POST"]),
    Route(f"{API}/me/tokens/{{token_id}}", delete_token, methods=["DELETE"]),
    Route(f"{API}/users/{{username}}", profile, methods=["GET"]),
    Route(f"{API}/users/{{username}}/avatar.svg", avatar_svg, methods=["GET"]),
    Route(f"{API}/admin/users/{{user_id}}/role", set_role, methods=["PATCH"]),
    *page_routes,
]
