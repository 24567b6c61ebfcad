"""The notifications API through HTTP: the list with its unread count, paging, marking read (one,
all), bad input, and the "your job finished" notice from a real job."""

from __future__ import annotations

import httpx
import pytest

from hub.context import HubContext
from hub.notifications import service
from hub.notifications.service import NotificationKind
from tests.helpers import BOTH_DATABASES, eventually
from tests.hub.accounts.helpers import signed_up
from tests.hub.notifications.helpers import API, Person, person
from tests.live import LiveServer


async def tell(ctx: HubContext, who: Person, count: int, *, actor: Person | None = None) -> None:
    async with ctx.db.unit_of_work() as session:
        for i in range(count):
            await service.notify(
                session,
                recipient_id=who.user_id,
                kind=NotificationKind.reply,
                actor_id=actor.user_id if actor else None,
                text=f"reply {i}",
                url=f"/t/1/x#c-{i}",
                subject_type="comment",
                subject_id=str(i),
            )


@BOTH_DATABASES
async def test_list_pages_newest_first_with_the_unread_count(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob", "Bob <b>")
    await tell(ctx, ada, 5, actor=bob)
    seen: list[str] = []
    url = f"{API}/notifications?limit=2"
    while url:
        page = (await client.get(url, headers=ada.headers)).json()
        assert page["unread_count"] == 5
        seen += [n["text"] for n in page["items"]]
        url = (
            f"{API}/notifications?limit=2&cursor={page['next_cursor']}"
            if page["next_cursor"]
            else ""
        )
    assert seen == [f"reply {i}" for i in reversed(range(5))]
    first = (await client.get(f"{API}/notifications", headers=ada.headers)).json()["items"][0]
    assert first["actor"]["display_name"] == "Bob <b>"
    assert first["kind"] == "reply"
    assert first["read_at"] is None
    # Nobody else sees them.
    other = (await client.get(f"{API}/notifications", headers=bob.headers)).json()
    assert (other["items"], other["unread_count"], other["next_cursor"]) == ([], 0, None)


@BOTH_DATABASES
async def test_mark_one_then_all_read(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    await tell(ctx, ada, 3)
    items = (await client.get(f"{API}/notifications", headers=ada.headers)).json()["items"]
    one = items[1]["notification_id"]
    marked = await client.post(f"{API}/notifications/{one}/read", headers=ada.headers)
    assert marked.json() == {"marked": 1, "unread_count": 2}
    again = await client.post(f"{API}/notifications/{one}/read", headers=ada.headers)
    assert again.json() == {"marked": 0, "unread_count": 2}
    unread = (await client.get(f"{API}/notifications?unread=true", headers=ada.headers)).json()
    assert one not in [n["notification_id"] for n in unread["items"]]
    assert len(unread["items"]) == 2
    everything = await client.post(f"{API}/notifications/read-all", headers=ada.headers)
    assert everything.json() == {"marked": 2, "unread_count": 0}
    assert (await client.post(f"{API}/notifications/read-all", headers=ada.headers)).json() == {
        "marked": 0,
        "unread_count": 0,
    }
    page = (await client.get(f"{API}/notifications", headers=ada.headers)).json()
    assert all(n["read_at"] for n in page["items"])


@BOTH_DATABASES
async def test_bad_input(client: httpx.AsyncClient, ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob")
    await tell(ctx, ada, 1)
    mine = (await client.get(f"{API}/notifications", headers=ada.headers)).json()["items"][0]
    assert (await client.get(f"{API}/notifications")).status_code == 401
    assert (await client.post(f"{API}/notifications/read-all")).status_code == 401
    # Someone else's notification is not found, like a missing one: no existence leak.
    for target in (mine["notification_id"], 999999, "abc", "-1", "0", "1" * 40):
        answer = await client.post(f"{API}/notifications/{target}/read", headers=bob.headers)
        assert answer.status_code == 404, target
    for query, status in (
        ("cursor=nope!", 400),
        ("cursor=WyJ4IiwxXQ", 400),
        ("cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwxXQ", 400),  # a naive timestamp
        ("limit=0", 422),
        ("limit=101", 422),
        ("unread=maybe", 422),
        ("unread=1", 422),
        ("unread=yes", 422),
    ):
        answer = await client.get(f"{API}/notifications?{query}", headers=ada.headers)
        assert answer.status_code == status, (query, answer.text)
    assert (
        await client.delete(f"{API}/notifications/read-all", headers=ada.headers)
    ).status_code == 405
    # Still unread: nothing was changed by the refused calls.
    assert (await client.get(f"{API}/notifications", headers=ada.headers)).json()[
        "unread_count"
    ] == 1


async def test_cookie_requests_need_the_csrf_token(client: httpx.AsyncClient) -> None:
    csrf = await signed_up(client, "ada")
    assert (await client.get(f"{API}/notifications")).status_code == 200
    refused = await client.post(f"{API}/notifications/read-all")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    foreign = await client.post(
        f"{API}/notifications/read-all",
        headers={"x-csrf-token": csrf, "origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    ok = await client.post(f"{API}/notifications/read-all", headers={"x-csrf-token": csrf})
    assert ok.status_code == 200


@pytest.fixture
def live_overrides() -> dict[str, object]:
    from tests.hub.credits.helpers import EMBEDDED_WORKER

    return EMBEDDED_WORKER


@BOTH_DATABASES
async def test_a_finished_job_notifies_its_owner(live: LiveServer) -> None:
    ctx: HubContext = live.app.state.ctx
    ada = await person(ctx, "ada")
    async with httpx.AsyncClient(base_url=live.http_url) as api:
        job = await api.post(
            f"{API}/jobs",
            json={
                "kind": "text2img",
                "model": "offline-sketch",
                "prompt": "a koi pond",
                "width": 64,
                "height": 64,
                "steps": 2,
            },
            headers=ada.headers,
        )
        assert job.status_code == 201, job.text
        job_id = job.json()["jobs"][0]["job_id"]

        async def notified() -> list[dict[str, object]]:
            page = (await api.get(f"{API}/notifications", headers=ada.headers)).json()
            return [n for n in page["items"] if n["kind"] == "job_finished"]

        (notice,) = await eventually(notified, timeout=20, message="job_finished notice")
    assert notice["subject_type"] == "job"
    assert notice["subject_id"] == job_id
    assert notice["url"] == "/images"
    assert notice["actor"] is None
    assert str(notice["text"]).startswith("Your job finished: 1 image")


async def test_a_finished_room_job_links_to_the_room_and_arrives_live(live: LiveServer) -> None:
    from tests.rooms.ykit import EventClient

    ctx: HubContext = live.app.state.ctx
    ada = await person(ctx, "ada")
    socket = await EventClient.open(f"{live.ws_url}{API}/notifications/live?token={ada.token}")
    await socket.wait_for("hello")
    async with httpx.AsyncClient(base_url=live.http_url) as api:
        room = await api.post(f"{API}/rooms", json={"title": "Studio"}, headers=ada.headers)
        assert room.status_code == 201, room.text
        slug = room.json()["slug"]
        body = {"prompt": "koi", "model": "offline-sketch", "width": 64, "height": 64, "steps": 2}
        job = await api.post(f"{API}/rooms/{slug}/jobs", json=body, headers=ada.headers)
        assert job.status_code == 201, job.text
    (message,) = await socket.wait_for("notification", timeout=20)
    notice = message["notification"]
    assert (notice["kind"], notice["url"]) == ("job_finished", f"/r/{slug}")
    assert notice["subject_id"] == job.json()["jobs"][0]["job_id"]
    assert message["unread_count"] == 1
    await socket.close()
