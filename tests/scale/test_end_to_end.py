"""The room story against the ``make scale`` topology: nginx round-robins every request and socket
over three ``hub serve`` processes, two ``hub worker`` processes run the jobs, media goes to S3
(moto), on Postgres and Redis.

Two people sign up, share a room, co-edit its prompt with stock Yjs clients (``yclient.cjs``) and
generate from it; the image lands in the library and on S3; Bob publishes it as a work and a
signed-out visitor finds it on the feed and reads its page. Along the way every client's HTTP
requests and sockets are traced to the process that served them (nginx's ``X-Upstream`` header,
and its access log for the Node clients), and the test requires that each person was served by
more than one process and that the two editors' sockets were on different ones, so every step
really crossed processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scale.topology import Running
from tests.e2e.helpers import PASSWORD, sign_up
from tests.fault.redis_server import require_shared_redis
from tests.helpers import eventually
from tests.interop.yclient import YClientResult, run_yclient
from tests.rooms.ykit import EventClient
from tests.scale.topology import Landings, scaled_hub

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def hub(pg_database_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with scaled_hub(tmp_path, pg_database_url, require_shared_redis()) as running:
        yield running


async def _token(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Signs ``username`` up (a browser session, then dropped) and returns bearer headers."""
    await sign_up(http, username, username.title())
    http.cookies.clear()
    token = await http.post("/api/v1/auth/token", json={"login": username, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"authorization": f"Bearer {token.json()['access_token']}"}


async def _share_room(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient, alice_auth: Any, bob_auth: Any
) -> str:
    room = await alice.post("/api/v1/rooms", json={"title": "Lighthouse"}, headers=alice_auth)
    assert room.status_code == 201, room.text
    slug: str = room.json()["slug"]
    invite = await alice.post(
        f"/api/v1/rooms/{slug}/invites", json={"role": "editor"}, headers=alice_auth
    )
    assert invite.status_code == 201, invite.text
    accepted = await bob.post(f"/api/v1/invites/{invite.json()['token']}/accept", headers=bob_auth)
    assert accepted.status_code == 200, accepted.text
    return slug


async def _co_edit(hub: Running, slug: str, tokens: dict[str, str]) -> list[YClientResult]:
    """Alice and Bob each type a phrase in stock Yjs clients and wait for the other's."""
    phrases = {"alice": "a lighthouse", "bob": " in the fog"}
    runs = [
        run_yclient(
            hub.url.replace("http://", "ws://") + "/yjs",
            slug,
            token=tokens[who],
            name=who,
            insert=phrase,
            expect_contains=list(phrases.values()),
            expect_peers=[other for other in phrases if other != who],
            headers={"X-Request-ID": f"{who}-yjs"},
            timeout=25,
            quiet=True,
        )
        for who, phrase in phrases.items()
    ]
    results = list(await asyncio.gather(*runs))
    for result in results:
        assert result.ok, (result.unmet, result.closes, result.errors)
    assert results[0].prompt == results[1].prompt
    return results


async def _generate(
    bob: httpx.AsyncClient, bob_auth: Any, slug: str, events: EventClient
) -> dict[str, Any]:
    """Bob generates from the room's document; the job's events reach Alice's socket."""
    body = {"model": "offline-sketch", "width": 128, "height": 96, "steps": 4}
    submitted = await bob.post(f"/api/v1/rooms/{slug}/jobs", json=body, headers=bob_auth)
    assert submitted.status_code == 201, submitted.text
    job: dict[str, Any] = submitted.json()["jobs"][0]

    def of_job(kind: str) -> list[dict[str, Any]]:
        return [m for m in events.of_type(kind) if m["data"].get("job_id") == job["job_id"]]

    await eventually(lambda: of_job("job.succeeded"), timeout=30, message="job.succeeded")
    assert of_job("job.started")
    steps = [m["data"]["step"] for m in of_job("job.progress")]
    assert steps, "no job.progress reached the room"
    assert steps == sorted(steps), steps
    return job


def _worker_that_ran(hub: Running, job_id: str) -> list[str]:
    return [
        record.name
        for record in hub.workers
        if f"job {job_id}: job.succeeded" in Path(record.log).read_text()
    ]


async def _check_image(
    bob: httpx.AsyncClient, bob_auth: Any, job: dict[str, Any], prompt: str
) -> str:
    library = await bob.get("/api/v1/images", headers=bob_auth)
    assert library.status_code == 200, library.text
    (image,) = [i for i in library.json()["items"] if i["job_id"] == job["job_id"]]
    assert image["prompt"] == prompt
    download = await bob.get(f"/api/v1/images/{image['image_id']}/download", headers=bob_auth)
    assert download.status_code == 200, download.text
    assert download.content.startswith(PNG)
    # /media/{key} sends the browser on to a fresh presigned URL of the bucket.
    redirect = await bob.get(image["url"], headers=bob_auth)
    assert redirect.is_redirect, redirect.text
    async with httpx.AsyncClient() as direct:
        stored = await direct.get(redirect.headers["location"])
    assert stored.status_code == 200
    assert stored.content == download.content
    wallet = (await bob.get("/api/v1/credits", headers=bob_auth)).json()
    assert wallet["reserved"] == 0
    assert wallet["balance"] == 100 - job["cost"]
    return str(image["image_id"])


async def _publish(
    bob: httpx.AsyncClient, bob_auth: Any, alice: httpx.AsyncClient, image_id: str, prompt: str
) -> None:
    """Bob publishes the image as a work; Alice, signed out, finds it on the feed and reads its
    page (each request may land on any process)."""
    body = {"image_ids": [image_id], "title": "Harbour at dawn", "status": "published"}
    created = await bob.post("/api/v1/works", json=body, headers=bob_auth)
    assert created.status_code == 201, created.text
    work = created.json()

    async def listed() -> bool:
        feed = await alice.get("/api/v1/feed", params={"sort": "latest"})
        return any(item["work_id"] == work["id"] for item in feed.json()["items"])

    await eventually(listed, timeout=10, message="the work is on the feed")  # 5 s page cache
    page = await alice.get(work["url"])
    assert page.status_code == 200, page.text
    assert "Harbour at dawn" in page.text
    shown = await alice.get(f"/api/v1/works/{work['id']}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["prompt"] == prompt


async def test_room_story_with_every_client_spread_over_the_processes(hub: Running) -> None:
    """Proves: sign-up, tokens, rooms, invites, the co-edit of stock Yjs clients, the event
    stream, generation on separate workers and S3 media all work with no stickiness, each
    person's requests and sockets served by several processes. Bound: about 45 s (start-up of
    seven processes, two Node clients, one job)."""
    landings = Landings(hub)
    origin = {"origin": hub.url}
    async with (
        landings.client("alice", headers=origin) as alice,
        landings.client("bob", headers=origin) as bob,
    ):
        alice_auth, bob_auth = await _token(alice, "alice"), await _token(bob, "bob")
        slug = await _share_room(alice, bob, alice_auth, bob_auth)
        ws_base = hub.url.replace("http://", "ws://")
        token = alice_auth["authorization"].removeprefix("Bearer ")
        events = await EventClient.open(f"{ws_base}/rooms/{slug}/events?token={token}")
        try:
            landings.socket("alice", events.ws)
            await events.wait_for("welcome")
            tokens = {"alice": token, "bob": bob_auth["authorization"].removeprefix("Bearer ")}
            (edited, _) = await _co_edit(hub, slug, tokens)
            job = await _generate(bob, bob_auth, slug, events)
        finally:
            await events.close()

        async def stored() -> bool:
            document = await alice.get(f"/api/v1/rooms/{slug}/document", headers=alice_auth)
            return bool(document.json()["prompt"] == edited.prompt)

        await eventually(stored, timeout=10, message="the co-edited prompt is stored")
        image_id = await _check_image(bob, bob_auth, job, edited.prompt)
        await _publish(bob, bob_auth, alice, image_id, edited.prompt)
        assert len(_worker_that_ran(hub, job["job_id"])) == 1

    (alice_yjs,) = landings.from_access_log("alice-yjs", "alice-yjs")
    (bob_yjs,) = landings.from_access_log("bob-yjs", "bob-yjs")
    assert alice_yjs != bob_yjs, "both editors' sockets were on one process"
    assert len(landings.of("alice")) >= 2, landings.seen
    assert len(landings.of("bob")) >= 2, landings.seen
    assert landings.everyone == {"web-1", "web-2", "web-3"}, landings.seen
