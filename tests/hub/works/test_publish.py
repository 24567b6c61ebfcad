"""Publishing, unpublishing, editing and deleting works through HTTP on both databases: the
discussion thread (own or attached, locked 409), notices to followers, slugs, who may change
what."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select, update

from hub.context import HubContext
from hub.forum.models import Comment, Thread
from hub.forum.service import create_thread
from hub.notifications.models import Notification
from hub.social.service import follow
from hub.works.models import Work
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import Person
from tests.hub.works.work_helpers import API, create, created, generated, veteran, work_row


async def a_thread(ctx: HubContext, who: Person, *, locked: bool = False) -> int:
    async with ctx.db.unit_of_work() as session:
        ref = await create_thread(
            session,
            who.actor,
            category="general",
            title="Lighthouses",
            body="Show yours",
            limiter=None,
        )
        if locked:
            await session.execute(
                update(Thread).where(Thread.thread_id == ref.id).values(locked=True)  # type: ignore[arg-type]
            )
    return ref.id


async def comments_in(ctx: HubContext, thread_id: int) -> list[Comment]:
    async with ctx.db.unit_of_work() as session:
        rows = await session.scalars(select(Comment).where(Comment.thread_id == thread_id))  # type: ignore[arg-type]
        return list(rows)


async def notices(ctx: HubContext, kind: str) -> list[Notification]:
    async with ctx.db.unit_of_work() as session:
        rows = await session.scalars(select(Notification).where(Notification.kind == kind))  # type: ignore[arg-type]
        return list(rows)


async def thread_count(ctx: HubContext) -> int:
    async with ctx.db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(Thread)) or 0)


@BOTH_DATABASES
async def test_publishing_opens_a_thread_that_shows_and_links_the_work(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    image = await generated(ctx, ada)
    body = await created(
        client,
        ada,
        image_ids=[image],
        title="Dusk [study]",
        description="Calm *sea*.",
        status="published",
        category="prompts",
    )
    async with ctx.db.unit_of_work() as session:
        thread = await session.get(Thread, body["thread_id"])
    assert thread is not None
    assert thread.title == "Dusk [study]"
    assert thread.author_id == ada.user_id
    assert f"http://testserver{body['url']}" in thread.body
    assert "-thumb.webp" in thread.body  # the cover
    assert "Calm *sea*." in thread.body
    work = await work_row(ctx, body["id"])
    assert work.category == "prompts"
    assert work.published_at is not None


@BOTH_DATABASES
async def test_publishing_into_an_existing_thread_adds_a_comment(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await veteran(ctx, "ada"), await veteran(ctx, "bob")
    thread_id = await a_thread(ctx, bob)
    threads = await thread_count(ctx)
    body = await created(
        client, ada, image_ids=[await generated(ctx, ada)], status="published", thread_id=thread_id
    )
    assert body["thread_id"] == thread_id
    assert await thread_count(ctx) == threads
    [comment] = await comments_in(ctx, thread_id)
    assert comment.author_id == ada.user_id
    assert body["url"] in comment.body


@BOTH_DATABASES
async def test_a_locked_or_unknown_thread_refuses_the_work_and_nothing_is_kept(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await veteran(ctx, "ada"), await veteran(ctx, "bob")
    locked = await a_thread(ctx, bob, locked=True)
    image = await generated(ctx, ada)
    response = await create(client, ada, image_ids=[image], status="published", thread_id=locked)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "conflict"
    response = await create(client, ada, image_ids=[image], status="published", thread_id=99999)
    assert response.status_code == 404
    assert await comments_in(ctx, locked) == []
    async with ctx.db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Work)) == 0
    # A draft published into the locked thread stays a draft.
    draft = await created(client, ada, image_ids=[image])
    publish = f"{API}/works/{draft['id']}/publish"
    response = await client.post(publish, json={"thread_id": locked}, headers=ada.headers)
    assert response.status_code == 409
    assert (await work_row(ctx, draft["id"])).status == "draft"


@BOTH_DATABASES
async def test_followers_hear_of_the_first_publication_only(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada", "Ada")
    fans = [await veteran(ctx, f"fan{i}") for i in range(3)]
    async with ctx.db.unit_of_work() as session:
        for fan in fans:
            await follow(session, fan.actor, "ada", True, limiter=None)
    draft = await created(client, ada, image_ids=[await generated(ctx, ada)], title="Tide")
    assert await notices(ctx, "new_work") == []
    path = f"{API}/works/{draft['id']}"
    published = await client.post(f"{path}/publish", json={}, headers=ada.headers)
    assert published.status_code == 200, published.text
    thread_id = published.json()["thread_id"]
    told = await notices(ctx, "new_work")
    assert sorted(n.recipient_id for n in told) == sorted(f.user_id for f in fans)
    assert {n.url for n in told} == {draft["url"]}
    # Back to a draft and out again: the same thread, nobody told twice.
    unpublished = await client.post(f"{path}/unpublish", headers=ada.headers)
    assert unpublished.json()["status"] == "draft"
    assert (await client.get(path)).status_code == 404
    again = await client.post(f"{path}/publish", json={}, headers=ada.headers)
    assert again.json()["thread_id"] == thread_id
    assert len(await notices(ctx, "new_work")) == len(fans)
    # Publishing a published work changes nothing; another thread for it is a conflict.
    same = await client.post(f"{path}/publish", json={}, headers=ada.headers)
    assert same.status_code == 200
    other = await a_thread(ctx, ada)
    moved = await client.post(f"{path}/publish", json={"thread_id": other}, headers=ada.headers)
    assert moved.status_code == 409


@BOTH_DATABASES
async def test_edits_change_the_slug_and_only_the_author_may_change_a_work(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await veteran(ctx, "ada"), await veteran(ctx, "bob")
    body = await created(
        client, ada, image_ids=[await generated(ctx, ada)], title="First", status="published"
    )
    path = f"{API}/works/{body['id']}"
    response = await client.patch(
        path, json={"title": "Second light", "category": "showcase"}, headers=ada.headers
    )
    assert response.status_code == 200, response.text
    work = response.json()
    assert (work["title"], work["slug"], work["category"]) == (
        "Second light",
        "second-light",
        "showcase",
    )
    old = await client.get(body["url"])
    assert old.status_code == 301
    assert old.headers["location"] == f"/artwork/{body['id']}/second-light"
    cleared = await client.patch(path, json={"category": None}, headers=ada.headers)
    assert cleared.json()["category"] is None
    for change in ({"title": None}, {"title": ""}, {"category": "nope"}, {"author_id": 2}):
        assert (await client.patch(path, json=change, headers=ada.headers)).status_code == 422
    # Bob sees the published work but may not change, unpublish or delete it.
    assert (
        await client.patch(path, json={"title": "Mine"}, headers=bob.headers)
    ).status_code == 403
    assert (await client.post(f"{path}/unpublish", headers=bob.headers)).status_code == 403
    assert (await client.post(f"{path}/publish", json={}, headers=bob.headers)).status_code == 403
    assert (await client.delete(path, headers=bob.headers)).status_code == 403
    assert (await client.delete(path)).status_code == 401
    assert (await work_row(ctx, body["id"])).title == "Second light"


@BOTH_DATABASES
async def test_a_deleted_work_is_gone_for_everyone_but_its_thread_stays(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada = await veteran(ctx, "ada")
    body = await created(client, ada, image_ids=[await generated(ctx, ada)], status="published")
    path = f"{API}/works/{body['id']}"
    assert (await client.delete(path, headers=ada.headers)).status_code == 204
    for headers in (ada.headers, None):
        assert (await client.get(path, headers=headers)).status_code == 404
        assert (await client.get(body["url"], headers=headers)).status_code == 404
    assert (await client.delete(path, headers=ada.headers)).status_code == 404
    assert (await client.put(f"{path}/like", headers=ada.headers)).status_code == 404
    async with ctx.db.unit_of_work() as session:
        thread = await session.get(Thread, body["thread_id"])
    assert thread is not None
    assert thread.deleted_at is None


async def test_a_new_account_is_held_to_the_tighter_work_limit(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    from tests.hub.notifications.helpers import person

    newbie = await person(ctx, "newbie")  # signed up just now
    image = await generated(ctx, newbie)
    limit = int(ctx.settings.rate_limit_work_new.split("/")[0])
    for _ in range(limit):
        assert (await create(client, newbie, image_ids=[image])).status_code == 201
    response = await create(client, newbie, image_ids=[image])
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"


@BOTH_DATABASES
async def test_the_works_comment_count_is_its_threads(
    client: httpx.AsyncClient, ctx: HubContext
) -> None:
    ada, bob = await veteran(ctx, "ada"), await veteran(ctx, "bob")
    body = await created(client, ada, image_ids=[await generated(ctx, ada)], status="published")
    for text in ("Lovely", "The light!"):
        response = await client.post(
            f"{API}/threads/{body['thread_id']}/comments", json={"body": text}, headers=bob.headers
        )
        assert response.status_code == 201, response.text
    work = (await client.get(f"{API}/works/{body['id']}")).json()
    assert work["comment_count"] == 2
    page = await client.get(body["url"], headers={"accept": "text/html"})
    assert "· 2 comments" in page.text
