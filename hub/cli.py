"""The ``hub`` command: serve, worker, migrate, user create|set-role|export|import, token create,
search reindex, works recompute-hot, rooms compact, clean (docs/operations.md)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.settings import Settings

if TYPE_CHECKING:
    from hub.search.reindex import Provider

Command = Callable[[argparse.Namespace, Settings], int]


@dataclass(frozen=True)
class SearchSource:
    """A module with ``search_documents(session)`` (and optionally
    ``count_search_documents(session)``) for the kinds it indexes (hub/search/reindex.py)."""

    module: str
    kinds: tuple[str, ...]


# What `hub search reindex` rebuilds, in order. A domain that indexes a kind adds its module
# here; a listed module that is not in this build is reported and skipped.
SEARCH_PROVIDERS: tuple[SearchSource, ...] = (
    SearchSource("hub.accounts.indexing", ("user",)),
    SearchSource("hub.storage.indexing", ("image",)),
    SearchSource("hub.forum.indexing", ("thread", "comment")),
    SearchSource("hub.works.indexing", ("work",)),
    SearchSource("hub.prompts.indexing", ("prompt",)),
)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from hub.app import create_app, drain_sockets

    class DrainingServer(uvicorn.Server):
        """uvicorn's shutdown (SIGTERM) with room sockets closed first by the app: 1001 and a
        reconnect hint instead of uvicorn's blanket 1012, sent after the listeners close so
        that clients reconnect to another process."""

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for server in getattr(self, "servers", []):
                server.close()  # stop accepting; uvicorn's own close below is then a no-op
            try:
                await drain_sockets(app)
            except Exception:
                logging.getLogger(__name__).exception("draining room sockets failed")
            await super().shutdown(sockets)

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    if overrides:
        # A fresh Settings so that values derived from host/port (the public URL) follow them.
        settings = Settings(**overrides)  # type: ignore[arg-type]
    host, port = settings.host, settings.port
    app = create_app(settings)
    # A long-lived server process: move what start-up made (modules, templates, the route
    # table) out of the collector's reach so full collections stop re-scanning it (gc.freeze;
    # docs/performance.md). Not done for apps made by tests, which are many in one process.
    app.state.freeze_gc_after_startup = True
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        # uvloop and httptools (uvicorn's "standard" extras) when installed: measured by
        # bench/api.py against the pure-Python asyncio loop and h11 (docs/performance.md).
        loop=args.loop,
        http=args.http,
        # Measured per recipient send: sansio ~17 µs, wsproto ~25 µs; permessage-deflate adds
        # 15-25 µs per recipient on room fan-out. A small frame limit protects rooms; a
        # graceful-shutdown timeout lets sockets close and stores flush instead of hanging.
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_size,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        proxy_headers=True,
        log_config=None,
        access_log=False,
    )
    DrainingServer(config).run()
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from hub import migrate

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.action == "upgrade":
        migrate.upgrade(settings.effective_database_url, args.revision or "head")
    else:
        migrate.downgrade(settings.effective_database_url, args.revision or "-1")
    target = args.revision or ("head" if args.action == "upgrade" else "-1")
    print(f"database migrated: {args.action} to {target}")  # noqa: T201
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from hub.compose import run_worker
    except ImportError:
        print("The job worker is not available in this build.", file=sys.stderr)  # noqa: T201
        return 2
    return asyncio.run(run_worker(settings))


def _search_providers(sources: Sequence[SearchSource]) -> list[Provider]:
    from hub.search.models import DocKind
    from hub.search.reindex import Provider

    found: list[Provider] = []
    for source in sources:
        try:
            module = importlib.import_module(source.module)
        except ModuleNotFoundError as exc:
            if exc.name != source.module:
                raise  # the module is there but broken: not something to skip
            print(f"{source.module}: not in this build, skipped", file=sys.stderr)  # noqa: T201
            continue
        name = source.module.split(".")[1]
        kinds = tuple(DocKind(kind) for kind in source.kinds)
        count = getattr(module, "count_search_documents", None)
        found.append(Provider(name, kinds, module.search_documents, count))
    return found


def _search_reindex(args: argparse.Namespace, settings: Settings) -> int:
    from hub.db import Database
    from hub.search.reindex import reindex

    providers = _search_providers(SEARCH_PROVIDERS)

    async def run() -> int:
        db = Database(settings)
        try:
            outcomes = await reindex(db, providers)
        finally:
            await db.dispose()
        total = sum(outcome.indexed for outcome in outcomes)
        print(f"search index rebuilt: {total} documents")  # noqa: T201
        return 0

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Creation hub command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="Run the web process (uvicorn).")
    serve.add_argument("--host", default=None, help="Interface (default HOST or 127.0.0.1).")
    serve.add_argument("--port", type=int, default=None, help="Port (default PORT or 8000).")
    serve.add_argument(
        "--loop",
        default="auto",
        choices=["auto", "asyncio", "uvloop"],
        help="Event loop (default: uvloop when installed).",
    )
    serve.add_argument(
        "--http",
        default="auto",
        choices=["auto", "h11", "httptools"],
        help="HTTP/1.1 parser (default: httptools when installed).",
    )
    serve.set_defaults(func=_serve)

    worker = sub.add_parser("worker", help="Run a job worker process.")
    worker.set_defaults(func=_worker)

    mig = sub.add_parser("migrate", help="Apply database migrations.")
    mig.add_argument("action", nargs="?", default="upgrade", choices=["upgrade", "downgrade"])
    mig.add_argument("revision", nargs="?", default=None)
    mig.set_defaults(func=_migrate)

    search = sub.add_parser("search", help="Maintain the search index.")
    search_sub = search.add_subparsers(dest="search_command", required=True)
    reindex = search_sub.add_parser(
        "reindex", help="Rebuild the search index from every domain (with a progress bar)."
    )
    reindex.set_defaults(func=_search_reindex)

    from hub.accounts.cli import register_commands
    from hub.ops.commands import register_commands as register_ops_commands
    from hub.ops.commands import register_user_commands
    from hub.works.cli import register_commands as register_works_commands

    register_commands(sub)
    register_works_commands(sub)
    register_ops_commands(sub)
    # `hub user export|import` join the accounts' `user` group.
    user_group = sub.choices["user"]
    (user_sub,) = (
        action for action in user_group._actions if isinstance(action, argparse._SubParsersAction)
    )
    register_user_commands(user_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings()
    func: Command = args.func
    return func(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
