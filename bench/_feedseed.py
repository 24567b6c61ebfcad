"""Seeds a migrated hub database with users, works (each with a cover image) and likes for
``bench/feed.py``, fast: rows are made in Python once, then written by the fastest bulk path of
each database (SQLite: ``executemany`` on the stdlib driver in one transaction; Postgres:
``COPY`` through asyncpg). Counters and hot scores are computed from the generated likes with
the hub's own formula, as the services would have left them.

Shape (deterministic, ``random.Random(seed)``): a third of the works by a hundred authors,
published over the last 60 days, 98 % listed (1 % drafts, 0.5 % deleted, 0.5 % hidden), in four
forum categories and none, in turn; likes per work Pareto-distributed (a few works have thousands,
most a handful), each from distinct users.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.storage.keys import new_media_id
from hub.works.hot import hot_score

CATEGORIES = ("general", "showcase", "prompts", "feedback", None)
DAY = 86_400


@dataclass
class Seed:
    users: int
    works: int
    likes: int
    seed: int = 10
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "user_id", "email", "email_key", "username", "username_key", "password_hash",
        "display_name", "bio", "avatar_url", "role", "is_active", "email_verified",
        "created_at", "updated_at",
    ),
    "images": (
        "image_id", "owner_id", "job_id", "room_id", "index", "key", "thumb_key", "square_key",
        "mime", "width", "height", "bytes", "seed", "model", "prompt", "negative_prompt",
        "params", "created_at", "deleted_at",
    ),
    "works": (
        "work_id", "author_id", "title", "slug", "description", "status", "category",
        "room_id", "thread_id", "parent_work_id", "model", "prompt", "negative_prompt",
        "params", "prompt_history", "cover_image_id", "like_count", "favorite_count",
        "comment_count", "view_count", "remix_count", "hot_score", "created_at", "updated_at",
        "published_at", "deleted_at", "hidden_at",
    ),
    "reactions": ("user_id", "target_type", "target_id", "kind", "created_at"),
}  # fmt: skip


def _like_counts(rng: random.Random, works: int, likes: int, cap: int) -> list[int]:
    """``works`` counts summing to ``likes`` (when ``cap`` allows), Pareto-shaped."""
    weights = [rng.paretovariate(1.2) for _ in range(works)]
    total = sum(weights)
    counts = [min(cap, int(w / total * likes)) for w in weights]
    short = likes - sum(counts)
    order = sorted(range(works), key=lambda i: -weights[i])
    while short > 0:
        moved = 0
        for i in order:
            if short == 0:
                break
            if counts[i] < cap:
                counts[i] += 1
                short -= 1
                moved += 1
        if moved == 0:
            break  # every work is at the cap: fewer users than likes need
    return counts


def _user_rows(seed: Seed) -> list[tuple[Any, ...]]:
    at = seed.now - timedelta(days=90)
    return [
        (i, f"u{i}@bench.test", f"u{i}@bench.test", f"u{i}", f"u{i}", None, f"User {i}", "",
         None, "user", True, False, at, at)
        for i in range(1, seed.users + 1)
    ]  # fmt: skip


def _status(rng: random.Random) -> tuple[str, bool, bool]:
    """(status, deleted, hidden): 98 % listed."""
    roll = rng.random()
    if roll < 0.01:
        return "draft", False, False
    return "published", 0.01 <= roll < 0.015, 0.015 <= roll < 0.02


def _work_rows(
    seed: Seed, rng: random.Random, states: list[tuple[str, bool, bool]], counts: list[int]
) -> None:
    images, works = [], []
    for n in range(seed.works):
        work_id = n + 1
        # A third of the works by a hundred prolific authors, the rest by anyone.
        author = rng.randint(1, min(100, seed.users)) if n % 3 == 0 else rng.randint(1, seed.users)
        published = seed.now - timedelta(seconds=rng.random() * 60 * DAY)
        status, deleted, hidden = states[n]
        image_id = new_media_id()
        key = f"images/bench{work_id}/0/{image_id}"
        images.append(
            (image_id, author, f"bench{work_id}", None, 0, f"{key}.png", f"{key}-thumb.webp",
             f"{key}-square.webp", "image/png", 1024, 1024, 100_000, "1", "offline-sketch",
             f"prompt {work_id}", "", "{}", published, None)
        )  # fmt: skip
        is_published = status == "published"
        likes = counts[n] if is_published else 0
        score = hot_score(published_at=published, likes=likes) if is_published else 0.0
        works.append(
            (work_id, author, f"Work {work_id}", f"work-{work_id}", "", status,
             CATEGORIES[n % len(CATEGORIES)], None, None, None, "offline-sketch",
             f"prompt {work_id}", "", "{}", "[]", image_id, likes, 0, 0, 0, 0, score,
             published, published, published if is_published else None,
             published if deleted else None, published if hidden else None)
        )  # fmt: skip
    seed.rows["images"], seed.rows["works"] = images, works


def _reaction_rows(seed: Seed, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    people = range(1, seed.users + 1)
    for work in seed.rows["works"]:
        count, published = work[16], work[24]
        for user_id in rng.sample(people, count):
            yield (user_id, "work", work[0], "like", published + timedelta(seconds=user_id))


def build(seed: Seed) -> Seed:
    rng = random.Random(seed.seed)
    states = [_status(rng) for _ in range(seed.works)]
    # Every like on a work that was published (drafts have none; deleted and hidden works keep
    # the likes they had), so that the table holds exactly ``seed.likes``.
    published = [n for n, (status, _, _) in enumerate(states) if status == "published"]
    counts = [0] * seed.works
    for n, count in zip(
        published, _like_counts(rng, len(published), seed.likes, seed.users), strict=True
    ):
        counts[n] = count
    seed.rows["users"] = _user_rows(seed)
    _work_rows(seed, rng, states, counts)
    seed.rows["reactions"] = list(_reaction_rows(seed, rng))
    return seed


# --- writers -------------------------------------------------------------------------------------


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLAlchemy's SQLite DATETIME storage format, in UTC (hub.db.UTCDateTime).
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def write_sqlite(path: str, seed: Seed) -> dict[str, float]:
    """Every table in one transaction; seconds per table."""
    timings = {}
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        for table, rows in seed.rows.items():
            started = time.perf_counter()
            columns = COLUMNS[table]
            quoted = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            conn.executemany(
                f"INSERT INTO {table} ({quoted}) VALUES ({marks})",  # noqa: S608 (our names)
                ([_sqlite_value(v) for v in row] for row in rows),
            )
            timings[table] = time.perf_counter() - started
        conn.commit()
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return timings


def _pg_rows(rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    return (tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in row) for row in rows)


async def write_postgres(dsn: str, seed: Seed) -> dict[str, float]:
    """``COPY`` per table, the id sequences moved past the seeded ids, then ``VACUUM ANALYZE``
    (which also sets the visibility map that index-only scans need)."""
    import asyncpg

    timings = {}
    conn = await asyncpg.connect(dsn)
    try:
        for table, rows in seed.rows.items():
            started = time.perf_counter()
            await conn.copy_records_to_table(
                table, records=list(_pg_rows(rows)), columns=list(COLUMNS[table])
            )
            timings[table] = time.perf_counter() - started
        for table, column in (("users", "user_id"), ("works", "work_id")):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "  # noqa: S608
                f"(SELECT max({column}) FROM {table}))"
            )
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        timings["vacuum analyze"] = time.perf_counter() - started
    finally:
        await conn.close()
    return timings
