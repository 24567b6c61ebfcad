"""``hub user create``, ``hub user set-role`` and ``hub token create`` against a migrated SQLite.

These tests are synchronous: the commands run their own event loop (asyncio.run)."""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hub.accounts.security import verify_password
from hub.cli import main
from tests.helpers import free_port


@pytest.fixture
def cli_db(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.sqlite3"
    shutil.copyfile(sqlite_template, path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    return path


def _rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, args).fetchall()


def test_user_create_with_password(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["user", "create", "Ada@Example.com", "--password", "analytical engine"])
    assert code == 0
    out = capsys.readouterr().out
    assert "created user Ada" in out
    [(username, role, email_key, verified, password_hash)] = _rows(
        cli_db, "SELECT username, role, email_key, email_verified, password_hash FROM users"
    )
    assert (username, role, email_key, verified) == ("Ada", "user", "ada@example.com", 1)
    assert password_hash.startswith("$argon2id$")


def test_user_create_admin_with_username(cli_db: Path) -> None:
    code = main(
        ["user", "create", "root@example.com", "--password", "pw for the admin",
         "--username", "boss", "--admin"]
    )  # fmt: skip
    assert code == 0
    assert _rows(cli_db, "SELECT username, role FROM users") == [("boss", "admin")]


def test_user_create_without_password_in_a_script_prints_a_generated_one(cli_db: Path) -> None:
    # A real ``hub`` process with no terminal on stdin, as in a provisioning script.
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "user", "create", "ada@example.com", "--admin"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [(username, role, password_hash)] = _rows(
        cli_db, "SELECT username, role, password_hash FROM users"
    )
    assert (username, role) == ("ada", "admin")
    match = re.search(r"^generated password: (\S+)$", done.stdout, re.MULTILINE)
    assert match, done.stdout
    password = match.group(1)
    assert len(password) >= 16
    assert verify_password(password_hash, password)
    assert not verify_password(password_hash, password + "x")


def test_user_create_prompts_twice_on_a_tty(
    cli_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["typed passphrase", "typed passphrase"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("hub.accounts.cli.getpass", lambda prompt: next(answers))
    assert main(["user", "create", "ada@example.com"]) == 0
    assert _rows(cli_db, "SELECT username FROM users") == [("ada",)]


def test_user_create_prompt_mismatch_fails(
    cli_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["typed passphrase", "typo passphrase"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("hub.accounts.cli.getpass", lambda prompt: next(answers))
    assert main(["user", "create", "ada@example.com"]) == 2
    assert "do not match" in capsys.readouterr().err
    assert _rows(cli_db, "SELECT count(*) FROM users") == [(0,)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["user", "create", "not-an-email", "--password", "long enough pw"], "email"),
        (["user", "create", "a@example.com", "--password", "short"], "password"),
        (["user", "create", "a@example.com", "--password", "long enough pw", "--username", "x"],
         "username"),
    ],
    ids=["email", "password", "username"],
)  # fmt: skip
def test_user_create_refuses_bad_input(
    cli_db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert _rows(cli_db, "SELECT count(*) FROM users") == [(0,)]


def test_user_create_duplicate_fails(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "create", "ada@example.com", "--password", "long enough pw"]) == 0
    assert main(["user", "create", "ADA@example.com", "--password", "long enough pw"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert _rows(cli_db, "SELECT count(*) FROM users") == [(1,)]


def test_set_role(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["user", "create", "ada@example.com", "--password", "long enough pw"])
    assert main(["user", "set-role", "ADA", "moderator"]) == 0
    assert "ada is now moderator" in capsys.readouterr().out
    assert _rows(cli_db, "SELECT role FROM users") == [("moderator",)]
    assert main(["user", "set-role", "nobody", "admin"]) == 1
    assert "No user named" in capsys.readouterr().err


def test_set_role_lowered_without_redis_says_open_sockets_stay(
    cli_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["user", "create", "root@example.com", "--password", "long enough pw", "--admin"])
    main(["user", "create", "ada@example.com", "--password", "long enough pw"])
    capsys.readouterr()
    assert main(["user", "set-role", "ada", "admin"]) == 0
    # A raise takes nothing away: nothing to say about sockets.
    assert "sockets" not in capsys.readouterr().out
    assert main(["user", "set-role", "ada", "user"]) == 0
    out = capsys.readouterr().out
    assert "ada is now user" in out
    assert "without REDIS_URL" in out
    assert "keep the old role until they reconnect" in out


def test_set_role_with_redis_down_changes_the_role_and_warns(
    cli_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main(["user", "create", "ada@example.com", "--password", "long enough pw"])
    main(["user", "set-role", "ada", "moderator"])
    capsys.readouterr()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    assert main(["user", "set-role", "ada", "user"]) == 0
    assert time.monotonic() - started < 15
    captured = capsys.readouterr()
    assert "ada is now user" in captured.out
    assert captured.err.startswith("warning: the role is changed")
    assert "could not connect" in captured.err
    assert _rows(cli_db, "SELECT role FROM users") == [("user",)]


def test_set_role_refuses_unknown_roles(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["user", "set-role", "ada", "god"])
    assert exc.value.code == 2


def test_set_role_keeps_the_last_admin(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["user", "create", "operator@example.com", "--password", "long enough pw", "--admin"])
    assert main(["user", "set-role", "operator", "user"]) == 1
    assert "at least one admin" in capsys.readouterr().err
    assert _rows(cli_db, "SELECT role FROM users") == [("admin",)]


def test_token_create_prints_the_token_last(
    cli_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["user", "create", "ada@example.com", "--password", "long enough pw"])
    capsys.readouterr()
    assert main(["token", "create", "ADA@example.com", "--name", "backup"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    secret = lines[-1]
    assert secret.startswith("hub_pat_")
    [(name, token_hash, expires)] = _rows(
        cli_db, "SELECT name, token_hash, expires_at FROM api_tokens"
    )
    assert name == "backup"
    assert token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert expires is None


def test_token_create_for_unknown_email_fails(
    cli_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "ghost@example.com"]) == 1
    assert "No user with the email" in capsys.readouterr().err
    assert main(["token", "create", "ghost@example.com", "--expires-in-days", "0"]) == 2


def test_commands_on_an_unmigrated_database_fail_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert main(["token", "create", "ada@example.com"]) == 1
    assert "hub migrate" in capsys.readouterr().err
