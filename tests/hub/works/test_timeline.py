"""The prompt's timeline: from real edits over the room's socket, from a long history, and how
steps become entries (bursts, the cap, word diffs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.collab import history
from hub.collab.history import DocumentStep
from hub.context import HubContext
from hub.works import timeline
from hub.works.timeline import build_timeline, diff_words, stored_entries
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.works.work_helpers import (
    API,
    age_history,
    created,
    generated,
    join,
    make_room,
    room_writer,
    veteran,
)
from tests.live import LiveServer
from tests.rooms.ykit import YClient

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def step(seconds: float, who: tuple[int, ...], prompt: str, **extra: Any) -> DocumentStep:
    return DocumentStep(
        at=T0 + timedelta(seconds=seconds), author_ids=who, prompt=prompt, negative="", **extra
    )


def test_a_burst_of_edits_by_the_same_people_is_one_entry() -> None:
    steps = [
        step(0, (1,), "a"),
        step(1, (1,), "a cat"),  # same burst
        step(2, (2,), "a black cat"),  # someone else
        step(3, (1,), "a black cat on"),
        step(3 + timeline.COALESCE_SECONDS, (1,), "a black cat on a roof"),  # a pause
        step(4 + timeline.COALESCE_SECONDS, (), "a black cat on a roof."),  # the hub
    ]
    built = build_timeline(steps)
    assert [(e["prompt"], e["user_ids"]) for e in built.entries] == [
        ("a cat", [1]),
        ("a black cat", [2]),
        ("a black cat on", [1]),
        ("a black cat on a roof", [1]),
        ("a black cat on a roof.", []),
    ]
    assert built.entries[0]["at"] == steps[1].at.isoformat()
    assert built.edits == {1: 3, 2: 1}


def test_a_long_timeline_keeps_its_start_and_its_latest_entries() -> None:
    steps = [step(i * 1000, (i % 2 + 1,), f"v{i}") for i in range(timeline.MAX_ENTRIES + 50)]
    entries = build_timeline(steps).entries
    assert len(entries) == timeline.MAX_ENTRIES
    assert entries[0]["prompt"] == "v0"
    assert entries[-1]["prompt"] == f"v{timeline.MAX_ENTRIES + 49}"
    assert entries[1]["prompt"] == "v51"


def test_the_baseline_of_a_cut_history_credits_nobody() -> None:
    steps = [step(0, (), "old text", baseline=True), step(10, (3,), "old text, new")]
    built = build_timeline(steps)
    assert [e["baseline"] for e in built.entries] == [True, False]
    assert built.edits == {3: 1}


@pytest.mark.parametrize(
    ("before", "after", "parts"),
    [
        ("a cat", "a black cat", [("same", "a "), ("added", "black "), ("same", "cat")]),
        ("a cat", "a dog", [("same", "a "), ("removed", "cat"), ("added", "dog")]),
        ("一只猫", "一只黑猫", [("same", "一只"), ("added", "黑"), ("same", "猫")]),
        ("", "new", [("added", "new")]),
        ("gone", "", [("removed", "gone")]),
    ],
)
def test_diffs_show_words_and_characters_that_changed(
    before: str, after: str, parts: list[tuple[str, str]]
) -> None:
    assert diff_words(before, after) == parts


def test_stored_entries_skip_what_is_not_an_entry() -> None:
    raw: Any = [
        {"at": T0.isoformat(), "user_ids": [1, "2", None], "prompt": "p", "negative": "n"},
        {"at": "yesterday", "prompt": "x"},
        "junk",
        None,
    ]
    assert stored_entries(raw) == [
        {"at": T0, "user_ids": [1], "prompt": "p", "negative": "n", "baseline": False}
    ]
    assert stored_entries({"not": "a list"}) == []


@BOTH_DATABASES
async def test_a_long_room_history_starts_from_a_baseline(
    client: httpx.AsyncClient, ctx: HubContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "MAX_SNAPSHOTS", 2)
    ada, bob = await veteran(ctx, "ada"), await veteran(ctx, "bob")
    slug = await make_room(client, ada)
    await join(client, ada, slug, bob)
    writer = room_writer(ctx, slug)
    for who, words in ((ada, "one"), (bob, " two"), (ada, " three"), (bob, " four")):
        await writer.type(who, words)
        await writer.compact()
    await writer.type(ada, " five")
    await age_history(ctx, slug, T0)  # one moment: only the authors tell steps apart
    image = await generated(ctx, ada, room=slug)
    body = await created(client, ada, image_ids=[image])
    work = (await client.get(f"{API}/works/{body['id']}", headers=ada.headers)).json()
    steps = [
        (e["prompt"], e["baseline"], [a["username"] for a in e["authors"]])
        for e in work["timeline"]
    ]
    # Four snapshots, the newest two read: the older one is where the kept history starts.
    assert steps == [
        ("one two three", True, []),
        ("one two three four", False, ["bob"]),
        ("one two three four five", False, ["ada"]),
    ]
    assert {c["username"]: c["edits"] for c in work["contributors"]} == {"ada": 1, "bob": 1}


async def test_edits_over_the_rooms_socket_become_the_timeline(live: LiveServer) -> None:
    """Two people type into a room through y-websocket; the room stores their edits; the work
    published from the room's image credits both, in the order they typed."""
    ctx: HubContext = live.app.state.ctx
    async with httpx.AsyncClient(base_url=live.http_url) as client:
        ada, bob = await veteran(ctx, "ada", "Ada"), await veteran(ctx, "bob", "Bob")
        slug = await make_room(client, ada)
        await join(client, ada, slug, bob)
        clients = []
        for who in (ada, bob):
            yclient = YClient(f"{live.ws_url}/yjs/{slug}?token={who.token}", name=who.username)
            await yclient.connect()
            await yclient.wait_synced()
            clients.append(yclient)
        ada_doc, bob_doc = clients
        try:
            ada_doc.insert(0, "a quiet harbour")
            await bob_doc.wait_text("a quiet harbour")
            await stored_prompt(ctx, slug, "a quiet harbour")
            bob_doc.insert(len(bob_doc.text), " at night")
            await ada_doc.wait_text("a quiet harbour at night")
            await stored_prompt(ctx, slug, "a quiet harbour at night")
        finally:
            for yclient in clients:
                await yclient.close()
        image = await generated(ctx, ada, room=slug, prompt="a quiet harbour at night")
        body = await created(client, ada, image_ids=[image], status="published")
        work = (await client.get(f"{API}/works/{body['id']}")).json()
    steps = [(e["prompt"], [a["username"] for a in e["authors"]]) for e in work["timeline"]]
    assert steps == [("a quiet harbour", ["ada"]), ("a quiet harbour at night", ["bob"])]
    assert {c["username"] for c in work["contributors"]} == {"ada", "bob"}


async def stored_prompt(ctx: HubContext, slug: str, expected: str) -> None:
    """Waits until the room's stored history ends with ``expected`` (rooms flush edits to the
    store a few milliseconds after they happen)."""

    async def stored() -> bool:
        async with ctx.db.unit_of_work() as session:
            steps = await history.read_steps(await session.connection(), slug)
        return bool(steps) and steps[-1].prompt == expected

    await eventually(stored, timeout=10, message=f"the stored prompt {expected!r}")
