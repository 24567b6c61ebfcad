"""``hub works recompute-hot`` against a migrated SQLite, and its progress bar.

Synchronous: the command runs its own event loop (asyncio.run)."""

from __future__ import annotations

import io
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.cli import main
from hub.works.cli import ProgressBar
from hub.works.hot import hot_score

PUBLISHED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def cli_db(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.sqlite3"
    shutil.copyfile(sqlite_template, path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    return path


def _seed(path: Path, works: int) -> None:
    stamp = PUBLISHED.strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO users (user_id, email, email_key, username, username_key, display_name,"
            " bio, role, is_active, email_verified, created_at, updated_at) VALUES"
            " (1, 'a@example.com', 'a@example.com', 'ada', 'ada', 'Ada', '', 'user', 1, 0, ?, ?)",
            (stamp, stamp),
        )
        conn.executemany(
            "INSERT INTO works (author_id, title, slug, description, status, model, prompt,"
            " negative_prompt, params, prompt_history, like_count, favorite_count,"
            " comment_count, view_count, remix_count, hot_score, created_at, updated_at,"
            " published_at) VALUES (1, ?, '', '', ?, '', '', '', '{}', '[]', ?, 0, 0, 0, 0, 0,"
            " ?, ?, ?)",
            [
                (f"w{i}", "draft" if i == 0 else "published", i, stamp, stamp, stamp)
                for i in range(works)
            ],
        )


def test_recompute_hot_rewrites_every_published_score(
    cli_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(cli_db, 25)
    assert main(["works", "recompute-hot", "--batch-size", "10"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "hot scores recomputed: 24 changed"
    lines = captured.err.strip().splitlines()
    assert lines[-1] == "hot scores [" + "#" * 30 + "] 24/24"
    assert len(lines) == 3  # a pipe: one line per batch that crossed a tenth
    with sqlite3.connect(cli_db) as conn:
        rows = conn.execute("SELECT like_count, status, hot_score FROM works").fetchall()
    for likes, status, score in rows:
        expected = hot_score(published_at=PUBLISHED, likes=likes) if status == "published" else 0
        assert score == pytest.approx(expected)
    assert main(["works", "recompute-hot"]) == 0
    assert "0 changed" in capsys.readouterr().out


def test_recompute_hot_refuses_a_batch_size_below_one(
    cli_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["works", "recompute-hot", "--batch-size", "0"]) == 2
    assert "--batch-size" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_redraws_in_place_on_a_terminal() -> None:
    stream = Terminal()
    bar = ProgressBar("hot", stream)
    bar(5, 10)
    bar(6, 10)  # within a tenth of a second: not redrawn
    bar(10, 10)
    assert stream.getvalue() == (
        "\rhot [" + "#" * 15 + "." * 15 + "] 5/10\rhot [" + "#" * 30 + "] 10/10\n"
    )
    empty = io.StringIO()
    ProgressBar("hot", empty)(0, 0)
    assert empty.getvalue() == "hot [" + "#" * 30 + "] 0/0\n"
