"""Deleting media files: the sink for images a job did not keep, and the orphan cleanup.

Every writer stores its files first and inserts the row after (:mod:`hub.storage.service`), so a
crash or rollback leaves files that no row references. Their names carry a time-ordered id
(:mod:`hub.storage.keys`), so :func:`cleanup_orphans` can tell such a file's age from its name and
delete it once it is older than the grace period, without racing a save in progress.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.db import Database, utcnow
from hub.outbox import after_commit
from hub.storage.backends import Storage, validate_key
from hub.storage.errors import InvalidStorageKey
from hub.storage.indexing import unindex_images
from hub.storage.keys import IMAGE_KEY_RE, MEDIA_PREFIXES, UPLOAD_KEY_RE, media_id_time
from hub.storage.models import Image, Upload

log = logging.getLogger(__name__)

_BATCH = 500
_DELETE_CONCURRENCY = 16


async def delete_keys(storage: Storage, keys: Iterable[str]) -> int:
    """Delete these files (missing ones are fine; invalid keys are logged and skipped); returns
    how many deletes were issued. Concurrency is bounded for remote backends."""
    valid: list[str] = []
    for key in dict.fromkeys(keys):
        try:
            valid.append(validate_key(key))
        except InvalidStorageKey:
            log.warning("not deleting an invalid storage key", extra={"key": key})
    for start in range(0, len(valid), _DELETE_CONCURRENCY):
        chunk = valid[start : start + _DELETE_CONCURRENCY]
        await asyncio.gather(*(storage.delete(key) for key in chunk))
    return len(valid)


async def delete_images_by_key(session: AsyncSession, storage: Storage, keys: Sequence[str]) -> int:
    """The generation worker's ``on_orphan_keys`` sink: images of jobs that did not keep them
    (lease lost, purged failures). Removes the library rows whose original is one of ``keys``
    now and, after commit, their files (with thumbnail and square) and the other given keys,
    except files of images that stay (a thumbnail key alone never breaks a live image). Returns
    the number of rows removed."""
    matches = {key: m for key in dict.fromkeys(keys) if (m := IMAGE_KEY_RE.match(key))}
    files = {key for key in keys if key not in matches}
    rows: dict[str, Image] = {}
    if matches:
        ids = {m["id"] for m in matches.values()}
        found = await session.scalars(select(Image).where(col(Image.image_id).in_(ids)))
        rows = {row.image_id: row for row in found}
    removed = 0
    gone: list[str] = []
    for key, match in matches.items():
        row = rows.get(match["id"])
        if row is None:
            files.add(key)  # a file whose row is already gone
        elif row.key == key:
            files.update((row.key, row.thumb_key, row.square_key))
            await session.delete(row)
            gone.append(row.image_id)
            removed += 1
    await session.flush()
    await unindex_images(session, gone)

    async def remove_files() -> None:
        await delete_keys(storage, sorted(files))

    after_commit(session, remove_files)
    return removed


@dataclass(frozen=True)
class CleanupResult:
    images_purged: int
    files_deleted: int


async def _purge_deleted_images(db: Database, storage: Storage, cutoff: datetime) -> CleanupResult:
    purged = files = 0
    while True:
        async with db.unit_of_work() as session:
            rows = (
                await session.execute(
                    select(
                        col(Image.image_id),
                        col(Image.key),
                        col(Image.thumb_key),
                        col(Image.square_key),
                    )
                    .where(col(Image.deleted_at) < cutoff)
                    .order_by(col(Image.deleted_at))
                    .limit(_BATCH)
                )
            ).all()
        if not rows:
            return CleanupResult(purged, files)
        # Files first: if deleting them fails, the rows stay and the next run tries again.
        files += await delete_keys(storage, [k for row in rows for k in row[1:]])
        async with db.unit_of_work() as session:
            result = await session.execute(
                delete(Image).where(
                    col(Image.image_id).in_([row.image_id for row in rows]),
                    col(Image.deleted_at).is_not(None),
                )
            )
            purged += int(getattr(result, "rowcount", 0) or 0)


async def _unreferenced(
    db: Database, batch: dict[str, str], model: type[Image] | type[Upload]
) -> list[str]:
    if not batch:
        return []
    id_column = col(Image.image_id) if model is Image else col(Upload.upload_id)
    async with db.unit_of_work() as session:
        ids = set(batch.values())
        known = set(await session.scalars(select(id_column).where(id_column.in_(ids))))
    return [key for key, mid in batch.items() if mid not in known]


OrphanSink = Callable[[list[str]], Awaitable[int]]


async def _sweep_prefix(
    db: Database, storage: Storage, prefix: str, cutoff: datetime, sink: OrphanSink | None = None
) -> int:
    """Hand the unreferenced files under ``prefix`` older than ``cutoff`` to ``sink`` (default:
    delete them) in batches; returns what the sink returned, summed."""
    pattern, model = (IMAGE_KEY_RE, Image) if prefix == "images/" else (UPLOAD_KEY_RE, Upload)
    act: OrphanSink = sink or (lambda keys: delete_keys(storage, keys))
    handled = 0
    batch: dict[str, str] = {}
    async for key in storage.list_keys(prefix):
        match = pattern.match(key)
        made = media_id_time(match["id"]) if match else None
        # Files not named by us are not ours to delete; young ones may belong to a save whose
        # row is not committed yet.
        if match is None or made is None or made >= cutoff:
            continue
        batch[key] = match["id"]
        if len(batch) >= _BATCH:
            handled += await act(await _unreferenced(db, batch, model))
            batch = {}
    return handled + await act(await _unreferenced(db, batch, model))


async def find_orphans(
    db: Database, storage: Storage, *, older_than: timedelta, now: datetime | None = None
) -> list[str]:
    """What :func:`cleanup_orphans` would delete now (``hub clean --dry-run``): the files of
    images soft-deleted before the cutoff, then the unreferenced files older than it."""
    cutoff = (now or utcnow()) - older_than
    found: list[str] = []
    async with db.unit_of_work() as session:
        rows = await session.execute(
            select(col(Image.key), col(Image.thumb_key), col(Image.square_key)).where(
                col(Image.deleted_at) < cutoff
            )
        )
        found.extend(key for row in rows for key in row)

    async def collect(keys: list[str]) -> int:
        found.extend(keys)
        return len(keys)

    for prefix in MEDIA_PREFIXES:
        await _sweep_prefix(db, storage, prefix, cutoff, collect)
    return found


async def cleanup_orphans(
    db: Database, storage: Storage, *, older_than: timedelta, now: datetime | None = None
) -> CleanupResult:
    """Delete the files (then the rows) of images soft-deleted more than ``older_than`` ago, and
    every media file under ``images/``, ``uploads/`` and ``avatars/`` that is older than that and
    that no row references (crashed saves, rolled-back uploads, replaced avatars). Idempotent;
    safe to run from several processes at once."""
    cutoff = (now or utcnow()) - older_than
    purged = await _purge_deleted_images(db, storage, cutoff)
    files = purged.files_deleted
    for prefix in MEDIA_PREFIXES:
        files += await _sweep_prefix(db, storage, prefix, cutoff)
    if purged.images_purged or files:
        log.info(
            "media cleanup",
            extra={"images_purged": purged.images_purged, "files_deleted": files},
        )
    return CleanupResult(purged.images_purged, files)
