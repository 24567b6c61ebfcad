"""``hub clean`` and ``hub rooms compact``.

Both open the configured database (migrated first, ``hub migrate``) and may run while the hub
serves: cleaning re-checks every file and row at deletion time, compaction takes the store's
per-room compaction lock.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from hub.collab.compaction import compact_room, rooms_with_updates
from hub.collab.store import SqlStore
from hub.db import Database
from hub.generation import queue
from hub.settings import Settings
from hub.storage import cleanup
from hub.storage.component import open_storage
from hub.works.cli import ProgressBar


def register_commands(sub: Any) -> None:
    clean = sub.add_parser(
        "clean",
        help="Delete orphaned media files and old failed/canceled jobs (dry run unless --yes).",
    )
    clean.add_argument(
        "--jobs-older-than-days",
        type=int,
        default=None,
        help="Delete failed and canceled jobs finished more than this many days ago "
        "(default HUB_JOB_RETENTION_DAYS).",
    )
    clean.add_argument(
        "--media-grace-seconds",
        type=float,
        default=None,
        help="Only files older than this (default HUB_MEDIA_ORPHAN_GRACE_SECONDS): younger ones "
        "may belong to a save in progress.",
    )
    mode = clean.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", default=True, help="Print what would go (default)."
    )
    mode.add_argument("--yes", action="store_true", help="Delete for real.")
    clean.set_defaults(func=_clean)

    rooms = sub.add_parser("rooms", help="Maintain stored room documents.")
    rooms_sub = rooms.add_subparsers(dest="rooms_command", required=True)
    compact = rooms_sub.add_parser(
        "compact",
        help="Fold each room's stored updates into one snapshot (with a progress bar).",
    )
    compact.set_defaults(func=_compact)


def register_user_commands(user_sub: Any) -> None:
    """``hub user export`` and ``hub user import`` (the ``user`` group is accounts')."""
    export = user_sub.add_parser(
        "export", help="Write a user's profile, prompts, works and images to a zip."
    )
    export.add_argument("username")
    export.add_argument("out", type=Path, help="The zip to write.")
    export.set_defaults(func=_user_export)
    load = user_sub.add_parser(
        "import", help="Recreate a user from a zip made by hub user export (all or nothing)."
    )
    load.add_argument("zip", type=Path)
    load.set_defaults(func=_user_import)


def _user_export(args: argparse.Namespace, settings: Settings) -> int:
    from hub.ops import userdata

    if args.out.exists():
        _err(f"{args.out} exists; not overwriting it")
        return 1
    try:
        manifest = asyncio.run(userdata.run_export(settings, args.username, args.out))
    except LookupError as exc:
        _err(f"export failed: {exc.args[0]}")
        return 1
    print(f"exported {userdata.manifest_summary(manifest)} to {args.out}")  # noqa: T201
    return 0


def _user_import(args: argparse.Namespace, settings: Settings) -> int:
    from hub.ops import userdata

    try:
        manifest = asyncio.run(userdata.run_import(settings, args.zip))
    except userdata.ImportRefused as exc:
        _err(f"import failed, nothing was written: {exc}")
        return 1
    print(f"imported {userdata.manifest_summary(manifest)}")  # noqa: T201
    return 0


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def _clean(args: argparse.Namespace, settings: Settings) -> int:
    days = args.jobs_older_than_days
    days = settings.job_retention_days if days is None else days
    grace = (
        settings.media_orphan_grace_seconds
        if args.media_grace_seconds is None
        else args.media_grace_seconds
    )
    if days < 0 or grace < 0:
        _err("--jobs-older-than-days and --media-grace-seconds must not be negative")
        return 2
    jobs_age, media_age = timedelta(days=days), timedelta(seconds=grace)
    return asyncio.run(_run_clean(settings, jobs_age, media_age, args.yes))


async def _run_clean(settings: Settings, jobs_age: timedelta, grace: timedelta, yes: bool) -> int:
    db = Database(settings)
    storage = await open_storage(settings)
    try:
        if not yes:
            async with db.unit_of_work() as session:
                jobs = await queue.count_old_jobs(session, older_than=jobs_age)
            orphans = await cleanup.find_orphans(db, storage, older_than=grace)
            for key in orphans:
                print(f"would delete file {key}")  # noqa: T201
            print(  # noqa: T201
                f"dry run: would delete {jobs} old jobs and {len(orphans)} files "
                "(run with --yes to delete)"
            )
            return 0
        deleted_jobs = 0
        while True:
            async with db.unit_of_work() as session:
                purged = await queue.purge_old_jobs(session, older_than=jobs_age)
            deleted_jobs += purged.deleted
            if purged.orphan_keys:
                async with db.unit_of_work() as session:
                    await cleanup.delete_images_by_key(session, storage, purged.orphan_keys)
            if purged.deleted == 0:
                break
        result = await cleanup.cleanup_orphans(db, storage, older_than=grace)
        print(  # noqa: T201
            f"deleted {deleted_jobs} old jobs, {result.images_purged} deleted images and "
            f"{result.files_deleted} files"
        )
        return 0
    finally:
        await storage.aclose()
        await db.dispose()


def _compact(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> int:
        db = Database(settings)
        try:
            rooms = await rooms_with_updates(db)
            store = SqlStore(db)
            progress = ProgressBar("rooms")
            folded = skipped = saved = 0
            progress(0, len(rooms))
            for done, (room, _count) in enumerate(rooms, start=1):
                outcome = await compact_room(store, room)
                if outcome.updates:
                    folded += outcome.updates
                    saved += outcome.bytes_before - outcome.bytes_after
                else:
                    skipped += 1
                progress(done, len(rooms))
        finally:
            await db.dispose()
        print(  # noqa: T201
            f"rooms compacted: {len(rooms) - skipped} ({folded} updates folded, {saved} bytes "
            f"saved); {skipped} skipped (compacted elsewhere meanwhile)"
        )
        return 0

    return asyncio.run(run())
