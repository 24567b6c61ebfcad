"""``hub works recompute-hot``: recompute every published work's hot score, with a progress bar.

Run it after changing the formula's constants (``hub.works.hot``, docs/community.md); the web
process's periodic task only looks at recent works. Opens the configured database (it must be
migrated) and writes in batches, so the hub may keep serving meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, TextIO

from hub.db import Database
from hub.settings import Settings
from hub.works.hot import recompute_hot


class ProgressBar:
    """``hot scores [##########..........] 50000/100000`` redrawn in place on a terminal (at
    most ten times a second); on a pipe, one line per tenth of the way, so logs stay short."""

    WIDTH = 30

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._drawn = 0.0
        self._tenth = -1

    def line(self, done: int, total: int) -> str:
        filled = self.WIDTH * done // total if total else self.WIDTH
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return f"{self.label} [{bar}] {done}/{total}"

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            now = time.monotonic()
            if done >= total or now - self._drawn >= 0.1:
                self._drawn = now
                end = "\n" if done >= total else ""
                self.stream.write("\r" + self.line(done, total) + end)
                self.stream.flush()
            return
        tenth = 10 * done // total if total else 10
        if tenth != self._tenth:
            self._tenth = tenth
            print(self.line(done, total), file=self.stream, flush=True)


def register_commands(sub: Any) -> None:
    """Add the ``works`` command group to the ``hub`` parser's subparsers."""
    works = sub.add_parser("works", help="Maintain published works.")
    works_sub = works.add_subparsers(dest="works_command", required=True)
    recompute = works_sub.add_parser(
        "recompute-hot", help="Recompute every published work's hot score (with a progress bar)."
    )
    recompute.add_argument(
        "--batch-size", type=int, default=1000, help="Works per transaction (default 1000)."
    )
    recompute.set_defaults(func=_recompute_hot)


def _recompute_hot(args: argparse.Namespace, settings: Settings) -> int:
    if args.batch_size < 1:
        print("--batch-size must be at least 1", file=sys.stderr)  # noqa: T201
        return 2

    async def run() -> int:
        db = Database(settings)
        try:
            changed = await recompute_hot(
                db, batch_size=args.batch_size, progress=ProgressBar("hot scores")
            )
        finally:
            await db.dispose()
        print(f"hot scores recomputed: {changed} changed")  # noqa: T201
        return 0

    return asyncio.run(run())
