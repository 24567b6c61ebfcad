"""``hub clean``, ``hub rooms compact`` and ``hub user export`` / ``import`` through the CLI's
entry point (``hub.cli.main``, run in a thread: it runs its own event loop) on a temporary
database, SQLite and Postgres; imports go into a fresh SQLite hub."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from pycrdt import Doc, Text
from sqlalchemy import func, select, update

from hub.cli import main
from hub.collab.store import SqlStore
from hub.db import Database, utcnow
from hub.generation.queue.rows import JOBS
from hub.prompts import service as prompts
from hub.prompts.models import PromptTemplate
from hub.prompts.schemas import PromptCreateIn
from hub.settings import Settings
from hub.storage import service as storage_service
from hub.storage.component import open_storage
from hub.storage.keys import new_media_id
from hub.storage.models import Image
from hub.works import service as works
from hub.works.models import Work
from hub.works.schemas import WorkCreateIn
from rooms.store import UpdateRecord
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.fixtures import db, fast_settings
from tests.hub.credits.helpers import make_user
from tests.hub.generation.helpers import submit

__all__ = ["db", "fast_settings"]


def use(monkeypatch: pytest.MonkeyPatch, settings: Settings, data_dir: Path) -> None:
    """Point the CLI's Settings() at ``settings``' database and ``data_dir``."""
    monkeypatch.setenv("DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HUB_MEDIA_DIR", str(data_dir / "media"))


async def hub(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def png(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (16, 16), color).save(buffer, "PNG")
    return buffer.getvalue()


async def count(db: Database, model: type[Image] | type[Work] | type[PromptTemplate]) -> int:
    async with db.unit_of_work() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


@BOTH_DATABASES
async def test_clean_dry_runs_by_default_then_deletes_with_yes(
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, db.settings, tmp_path)
    alice = await make_user(db, "alice")
    old, recent = await submit(db, alice, times=2)
    async with db.unit_of_work() as session:
        for job, days in ((old, 40), (recent, 1)):
            await session.execute(
                update(JOBS)
                .where(JOBS.c.job_id == job.job_id)
                .values(state="failed", finished_at=utcnow() - timedelta(days=days))
            )
    storage = await open_storage(db.settings)
    try:
        async with db.unit_of_work() as session:
            kept = await storage_service.save_generated_image(
                session, storage, owner_id=alice.user_id, job_id="job1", room_id=None,
                index=0, data=png(), mime="image/png", width=16, height=16, seed=1,
                model="offline-sketch", prompt="p", negative_prompt="", params={},
            )  # fmt: skip
        orphan = f"images/job2/0/{new_media_id()}.png"
        await storage.put(orphan, png("blue"), "image/png")
    finally:
        await storage.aclose()
    media = tmp_path / "media"
    args = ["clean", "--jobs-older-than-days", "30", "--media-grace-seconds", "0"]

    code, out, _ = await hub(args, capsys)
    assert code == 0
    assert f"would delete file {orphan}" in out
    assert "would delete 1 old jobs and 1 files" in out
    assert (media / orphan).is_file()
    async with db.unit_of_work() as session:
        assert (await session.execute(select(func.count()).select_from(JOBS))).scalar_one() == 2

    code, out, _ = await hub([*args, "--yes"], capsys)
    assert code == 0, out
    assert "deleted 1 old jobs" in out
    assert not (media / orphan).exists()
    assert (media / kept.key).is_file()  # referenced by an image row: never an orphan
    async with db.unit_of_work() as session:
        left = (await session.execute(select(JOBS.c.job_id))).scalars().all()
    assert left == [recent.job_id]
    assert (await hub(["clean", "--jobs-older-than-days", "-1"], capsys))[0] == 2


@BOTH_DATABASES
async def test_rooms_compact_folds_stored_updates_into_one_snapshot(
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, db.settings, tmp_path)
    store = SqlStore(db)
    doc: Doc[Any] = Doc()
    doc["prompt"] = text = Text()
    for batch, word in enumerate(["a fox", " in", " snow"]):
        before = doc.get_state()
        text += word
        update_bytes = doc.get_update(before)
        await store.append_updates(
            "room-1", [UpdateRecord(update_bytes, "7")], writer="w", batch=batch
        )
    assert len((await store.load("room-1")).updates) == 3

    code, out, _ = await hub(["rooms", "compact"], capsys)
    assert code == 0
    assert "rooms compacted: 1 (3 updates folded" in out
    stored = await store.load("room-1")
    assert stored.updates == ()
    assert stored.snapshot is not None
    copy: Doc[Any] = Doc()
    copy.apply_update(stored.snapshot)
    copy_text = copy.get("prompt", type=Text)
    assert str(copy_text) == "a fox in snow"
    code, out, _ = await hub(["rooms", "compact"], capsys)
    assert "rooms compacted: 0" in out  # nothing left to fold


async def _alices_data(db: Database) -> None:
    alice = await make_user(db, "alice")
    storage = await open_storage(db.settings)
    try:
        async with db.unit_of_work() as session:
            data = PromptCreateIn.model_validate(
                {"title": "Fox", "body": "a {animal=fox} in snow", "visibility": "public"}
            )
            await prompts.create_prompt(session, alice, data=data, limiter=None)
            image = await storage_service.save_generated_image(
                session, storage, owner_id=alice.user_id, job_id="job1", room_id=None,
                index=0, data=png(), mime="image/png", width=16, height=16, seed=42,
                model="offline-sketch", prompt="a fox", negative_prompt="", params={"steps": 4},
            )  # fmt: skip
            body = WorkCreateIn(image_ids=[image.image_id], title="Snow fox", status="draft")
            await works.create_work(session, alice, storage, body, limiter=None)
    finally:
        await storage.aclose()


@pytest.fixture
def fresh_hub(sqlite_template: Path, tmp_path: Path) -> Settings:
    """Another hub: a migrated SQLite file and a media directory of its own."""
    path = tmp_path / "fresh" / "hub.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    return Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        data_dir=path.parent,
        media_dir=path.parent / "media",
        environment="test",
    )


@BOTH_DATABASES
async def test_export_then_import_into_a_fresh_hub_recreates_the_user(
    db: Database,
    fresh_hub: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _alices_data(db)
    use(monkeypatch, db.settings, tmp_path)
    out_zip = tmp_path / "alice.zip"
    code, out, err = await hub(["user", "export", "alice", str(out_zip)], capsys)
    assert code == 0, err
    assert "exported alice: 1 prompts, 1 images, 1 works" in out
    with zipfile.ZipFile(out_zip) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["profile"]["username"] == "alice"
        (image,) = manifest["images"]
        assert archive.read(image["file"]).startswith(b"\x89PNG")

    use(monkeypatch, fresh_hub, fresh_hub.data_dir)
    code, out, err = await hub(["user", "import", str(out_zip)], capsys)
    assert code == 0, err
    assert "imported alice: 1 prompts, 1 images, 1 works" in out
    fresh = Database(fresh_hub)
    try:
        async with fresh.unit_of_work() as session:
            (template,) = (await session.scalars(select(PromptTemplate))).all()
            (row,) = (await session.scalars(select(Image))).all()
            (work,) = (await session.scalars(select(Work))).all()
        assert (template.title, template.body) == ("Fox", "a {animal=fox} in snow")
        assert (row.seed, row.prompt, row.params) == ("42", "a fox", {"steps": 4})
        assert (fresh_hub.media_dir / row.key).is_file()
        assert (work.title, work.status, work.cover_image_id) == ("Snow fox", "draft", row.image_id)
    finally:
        await fresh.dispose()


async def test_export_of_an_unknown_user_fails_clearly(
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, db.settings, tmp_path)
    code, _, err = await hub(["user", "export", "nobody", str(tmp_path / "x.zip")], capsys)
    assert code == 1
    assert "export failed: no user named 'nobody'" in err
    assert not (tmp_path / "x.zip").exists()


async def test_bad_zips_are_refused_without_partial_data(
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _alices_data(db)
    use(monkeypatch, db.settings, tmp_path)
    good = tmp_path / "alice.zip"
    assert (await hub(["user", "export", "alice", str(good)], capsys))[0] == 0
    with zipfile.ZipFile(good) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        image_file = manifest["images"][0]["file"]
        picture = archive.read(image_file)

    def write(name: str, files: dict[str, bytes]) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            for member, data in files.items():
                archive.writestr(member, data)
        return path

    renamed = {**manifest, "profile": {**manifest["profile"], "username": "alice2",
                                       "email": "alice2@example.com"}}  # fmt: skip
    broken_png = write("broken.zip", {"manifest.json": json.dumps(renamed).encode(),
                                      image_file: b"not a png"})  # fmt: skip
    cases = {
        "not a zip": (tmp_path / "text.zip", "is not a zip file"),
        "no manifest": (write("empty.zip", {"x.txt": b"x"}), "has no manifest.json"),
        "wrong format": (
            write("format.zip", {"manifest.json": b'{"format": "other", "version": 1}'}),
            "is not a hub-user-export v1 manifest",
        ),
        "missing image": (
            write("missing.zip", {"manifest.json": json.dumps(renamed).encode()}),
            f"the zip lacks {image_file}",
        ),
        "account exists": (good, "already exists"),
        "undecodable image": (broken_png, "import failed"),
    }
    (tmp_path / "text.zip").write_text("hello")
    files_before = sorted(p for p in (tmp_path / "media").rglob("*") if p.is_file())
    counts = [await count(db, model) for model in (Image, Work, PromptTemplate)]
    for name, (path, message) in cases.items():
        code, _, err = await hub(["user", "import", str(path)], capsys)
        assert code == 1, name
        assert "import failed, nothing was written" in err, name
        assert message in err, (name, err)
    assert picture.startswith(b"\x89PNG")
    assert [await count(db, model) for model in (Image, Work, PromptTemplate)] == counts
    assert sorted(p for p in (tmp_path / "media").rglob("*") if p.is_file()) == files_before
