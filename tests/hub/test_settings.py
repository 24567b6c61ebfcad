"""Settings derived from others: the public URL follows HOST/PORT unless given; loopback origins."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import Settings


def test_public_url_follows_host_and_port_when_not_set() -> None:
    assert Settings(port=8123).public_url == "http://127.0.0.1:8123"
    assert Settings(host="0.0.0.0", port=9000).public_url == "http://127.0.0.1:9000"  # noqa: S104


def test_explicit_public_url_wins() -> None:
    settings = Settings(public_url="https://hub.example.com", port=9000)
    assert settings.public_url == "https://hub.example.com"
    assert settings.allowed_origins == {"https://hub.example.com"}
    assert settings.https


def test_loopback_names_are_one_origin() -> None:
    origins = Settings(port=8000).allowed_origins
    assert {"http://127.0.0.1:8000", "http://localhost:8000"} <= origins
    assert "http://localhost:8001" not in origins


def test_database_url_forms_are_normalised() -> None:
    pg = Settings(database_url="postgres://u@h/db").effective_database_url
    assert pg == "postgresql+asyncpg://u@h/db"
    lite = Settings(database_url="sqlite:///x.db").effective_database_url
    assert lite == "sqlite+aiosqlite:///x.db"


def test_media_dir_follows_the_data_dir_unless_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HUB_MEDIA_DIR", raising=False)
    assert Settings().media_dir == tmp_path / "data" / "media"
    monkeypatch.setenv("HUB_MEDIA_DIR", str(tmp_path / "elsewhere"))
    assert Settings().media_dir == tmp_path / "elsewhere"
    monkeypatch.delenv("HUB_DATA_DIR")
    monkeypatch.delenv("HUB_MEDIA_DIR")
    assert Settings().media_dir == Path("var/media")
