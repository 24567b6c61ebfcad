"""Application factory: the HTTP shell of the web process (routes, middleware, lifespan). Its
services are wired in :mod:`hub.compose`; rules live in the domain services."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.templating import Jinja2Templates
from starlette_compress import CompressMiddleware

from hub import __version__, i18n
from hub.accounts.cookies import SessionCookieMiddleware
from hub.api import openapi_document
from hub.compose import web_context
from hub.context import HubContext
from hub.errors import install_handlers
from hub.logs import configure_logging
from hub.metrics import (
    CONTENT_TYPE_LATEST,
    AppMetrics,
    MetricsMiddleware,
    RoomsCollector,
    bus_stats_of,
)
from hub.middleware import BodyLimitMiddleware, RequestIdMiddleware, SecurityHeadersMiddleware
from hub.notifications.pages import bell_context
from hub.settings import Settings
from hub.web.assets import STATIC_DIR, HashedStaticFiles
from hub.web.assets import static_url as static_url
from hub.web.shell import ShellMiddleware, shell_context
from rooms.close_codes import GOING_AWAY
from rooms.server import RECONNECT_HINT

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


def make_templates() -> Jinja2Templates:
    # autoescape=True for every template, not select_autoescape(): that one escapes .html and
    # .xml only and leaves .txt, .jinja and .html.j2 unescaped.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROOT / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    # `_()`, `gettext()` and `ngettext()` in every template, translated into the language of
    # the request being answered (hub.i18n keeps it in a context variable; ADR 0021).
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    # Templates name static files through static_url(): hashed names, cached for a year.
    env.globals["static_url"] = static_url
    # Dates in the account's time zone (or UTC); static/js/time.js re-renders them in the
    # viewer's zone and language.
    env.filters["localtime"] = i18n.local_datetime
    # The header's notification bell shows on the pages of signed-in visitors; the shell
    # (language, balance, menu) on every page.
    return Jinja2Templates(env=env, context_processors=[bell_context, shell_context])


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ctx: HubContext = request.app.state.ctx
    checks = {"db": await ctx.db.ping(), "bus": await ctx.bus.ping()}
    ok = all(checks.values())
    body: dict[str, object] = {"status": "ok" if ok else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    """Prometheus text: this process's metrics (each web process answers for itself)."""
    app_metrics: AppMetrics = request.app.state.metrics
    ctx: HubContext = request.app.state.ctx

    async def read_queue() -> dict[str, int]:
        from hub.generation.stats import queue_depth

        async with ctx.db.unit_of_work() as session:
            return await queue_depth(session)

    await app_metrics.refresh_queue(read_queue)
    return Response(app_metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _rooms_collector(app: Starlette) -> RoomsCollector:
    def rooms() -> Any:
        ctx: HubContext | None = getattr(app.state, "ctx", None)
        component = ctx.rooms if ctx is not None else None
        return component.server if component is not None else None

    def bus_stats() -> Any:
        ctx: HubContext | None = getattr(app.state, "ctx", None)
        return bus_stats_of(ctx.bus) if ctx is not None else None

    return RoomsCollector(rooms, bus_stats)


async def openapi(request: Request) -> Response:
    doc = request.app.state.openapi
    if doc is None:
        doc = openapi_document(request.app.routes, title="Creation Hub API", version=__version__)
        request.app.state.openapi = doc
    return JSONResponse(doc)


async def drain_sockets(app: Starlette) -> int:
    """The first step of a graceful shutdown, once the listeners are closed: close every room
    socket with 1001 and a reconnect hint, so clients move to another process (and resync)
    instead of waiting for this one. Rooms stay loaded until the lifespan ends and persists
    them; the embedded worker hands its jobs back then. Returns the sockets closed."""
    ctx: HubContext | None = getattr(app.state, "ctx", None)
    if ctx is None:
        return 0
    closed = 0
    if ctx.notifications is not None:
        # Personal notification streams go the same way (their writers send the close frame).
        for stream in list(ctx.notifications.streams):
            stream.close(GOING_AWAY, RECONNECT_HINT)
            closed += 1
    if ctx.rooms is not None:
        closed += await ctx.rooms.server.drain()
    log.info("sockets drained", extra={"sockets": closed})
    return closed


def domain_routes() -> list[BaseRoute]:
    """Every domain's routes. Each domain exposes ``routes`` from its ``routes.py``."""
    from hub.accounts.routes import routes as accounts_routes
    from hub.admin.pages import routes as admin_pages
    from hub.admin.routes import routes as admin_routes
    from hub.collab.routes import routes as collab_routes
    from hub.credits.routes import routes as credits_routes
    from hub.forum.routes import routes as forum_routes
    from hub.generation.routes import routes as generation_routes
    from hub.moderation.routes import routes as moderation_routes
    from hub.notifications.routes import routes as notifications_routes
    from hub.payments.pages import routes as payments_pages
    from hub.payments.routes import routes as payments_routes
    from hub.prompts.routes import routes as prompts_routes
    from hub.social.routes import routes as social_routes
    from hub.stats.pages import routes as stats_pages
    from hub.stats.routes import routes as stats_routes
    from hub.storage.routes import routes as storage_routes
    from hub.web.docs import routes as docs_routes
    from hub.web.pages import routes as web_routes
    from hub.web.search import routes as search_routes
    from hub.web.shell import routes as shell_routes
    from hub.works.feed_pages import routes as feed_pages
    from hub.works.feed_routes import routes as feed_routes
    from hub.works.routes import routes as works_routes

    return [
        *accounts_routes,
        *collab_routes,
        *credits_routes,
        *forum_routes,
        *generation_routes,
        *moderation_routes,
        *notifications_routes,
        *payments_routes,
        *payments_pages,
        *social_routes,
        *prompts_routes,
        *storage_routes,
        *web_routes,
        *feed_routes,
        *works_routes,
        *search_routes,
        *feed_pages,
        *shell_routes,
        *docs_routes,
        *admin_routes,
        *admin_pages,
        *stats_routes,
        *stats_pages,
    ]


def _middleware(settings: Settings) -> list[Middleware]:
    """Outermost first."""
    return [
        # Outermost: the latency histograms time everything below, compression included.
        Middleware(MetricsMiddleware),
        Middleware(RequestIdMiddleware),
        # Every answer that can shrink does (br, gzip, zstd; ADR 0022); WebSockets pass
        # through untouched.
        Middleware(CompressMiddleware, minimum_size=500),
        Middleware(SecurityHeadersMiddleware, hsts=settings.https),
        Middleware(SessionCookieMiddleware, settings=settings),
        Middleware(
            BodyLimitMiddleware,
            max_body=settings.max_body_bytes,
            max_upload=settings.max_upload_bytes,
        ),
        # Inside the session cookie middleware: the language and the header's balance are read
        # per request before the handler runs (hub/web/shell.py).
        Middleware(ShellMiddleware),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    if settings.environment == "production" and settings.secret_key.get_secret_value().startswith(
        "dev-insecure"
    ):
        raise RuntimeError("HUB_SECRET_KEY must be set in production.")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json_logs=settings.log_json)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.auto_migrate:
            from hub.migrate import upgrade_async

            await upgrade_async(settings)
        async with web_context(settings) as ctx:
            app.state.ctx = ctx
            dialect = ctx.db.engine.dialect.name
            log.info("hub started", extra={"db": dialect, "bus": type(ctx.bus).__name__})
            if getattr(app.state, "freeze_gc_after_startup", False):
                gc.collect()
                gc.freeze()
            yield
        log.info("hub stopped")

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, include_in_schema=False),
        Route("/readyz", readyz, include_in_schema=False),
        Route("/metrics", metrics, include_in_schema=False),
        Route("/api/v1/openapi.json", openapi, include_in_schema=False),
        *domain_routes(),
        Mount("/static", app=HashedStaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=_middleware(settings),
        exception_handlers=install_handlers(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.templates = make_templates()
    app.state.openapi = None
    app.state.metrics = AppMetrics()
    app.state.metrics.add(_rooms_collector(app))
    return app
