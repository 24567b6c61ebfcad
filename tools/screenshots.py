"""`make screenshots`: docs/screenshots/*.png of the key pages, from a scratch hub (a temporary
SQLite database, the offline engine) filled with the browser tests' sample content
(tests/e2e/sample.py), taken with Playwright and Debian's chromium (/usr/bin/chromium).

Chinese pages need a CJK font on the machine (`apt-get install -y fonts-wqy-microhei`); without
one they show boxes, and this script says so.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hub.migrate import upgrade
from hub.settings import Settings
from tests.e2e.helpers import ARGS, CHROMIUM
from tests.e2e.sample import make_sample
from tests.live import serve_hub

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _has_cjk_font() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    fonts = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True, check=False)  # noqa: S603
    return bool(fonts.stdout.strip())


async def _shoot(data: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    url = f"sqlite+aiosqlite:///{data / 'hub.sqlite3'}"
    settings = Settings(
        environment="test",
        data_dir=data,
        media_dir=data / "media",
        database_url=url,
        redis_url="",
        auto_migrate=False,
        log_level="WARNING",
        embedded_worker=True,
        offline_step_delay=0.0,
        secret_key="screenshots-only-secret-key",  # noqa: S106 - a throwaway hub on loopback
    )
    async with serve_hub(settings) as live:
        origin = live.http_url
        sample = await make_sample(origin, live.app.state.ctx)
        shots = [
            # (file, path, signed in, viewport, colour scheme, language)
            ("home", "/", True, DESKTOP, "light", "en"),
            ("feed", "/feed", False, DESKTOP, "light", "en"),
            ("artwork", sample.artwork_url, False, DESKTOP, "light", "en"),
            ("artwork-zh", sample.artwork_url, False, DESKTOP, "light", "zh-CN"),
            ("thread", sample.thread_url, False, DESKTOP, "dark", "en"),
            ("room", sample.room_url, True, DESKTOP, "light", "en"),
            ("prompts", "/prompts", True, DESKTOP, "dark", "en"),
            ("api-docs", "/api/docs", False, DESKTOP, "light", "en"),
            ("phone-feed", "/feed", False, PHONE, "dark", "zh-CN"),
        ]
        written = []
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                for name, path, signed_in, viewport, scheme, language in shots:
                    context = await browser.new_context(
                        viewport=viewport,
                        color_scheme=scheme,
                        locale=language,
                        extra_http_headers={"accept-language": language},
                    )
                    if signed_in:
                        cookie = {"name": "hub_session", "value": sample.alice_cookie}
                        await context.add_cookies([{**cookie, "url": origin}])
                    page = await context.new_page()
                    await page.goto(origin + path, wait_until="networkidle")
                    target = OUT / f"{name}.png"
                    await page.screenshot(path=str(target))
                    written.append(target)
                    await context.close()
            finally:
                await browser.close()
        return written


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)  # noqa: T201
        return 1
    if not _has_cjk_font():
        print("no CJK font: apt-get install -y fonts-wqy-microhei", file=sys.stderr)  # noqa: T201
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        upgrade(f"sqlite+aiosqlite:///{Path(scratch) / 'hub.sqlite3'}")  # runs its own loop
        for path in asyncio.run(_shoot(Path(scratch))):
            print(path.relative_to(ROOT))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
