"""The notifications service contract other domains call: notify, notify_many, notify_mentions."""

from __future__ import annotations

import pytest

from hub.context import HubContext
from hub.notifications import service
from hub.notifications.service import NotificationKind
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import person

KW = {"url": "/t/1/hello", "subject_type": "thread", "subject_id": "1"}


@BOTH_DATABASES
async def test_notify_stores_a_notice_and_never_tells_the_actor(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob")
    async with ctx.db.unit_of_work() as session:
        await service.notify(
            session,
            recipient_id=ada.user_id,
            kind=NotificationKind.reply,
            actor_id=bob.user_id,
            text="bob replied",
            **KW,
        )
        await service.notify(
            session,
            recipient_id=bob.user_id,
            kind=NotificationKind.reply,
            actor_id=bob.user_id,
            text="you replied to yourself",
            **KW,
        )
    async with ctx.db.unit_of_work() as session:
        page = await service.list_notifications(session, ada.actor)
        mine = await service.list_notifications(session, bob.actor)
    assert [(n.kind, n.text, n.url) for n in page.items] == [("reply", "bob replied", "/t/1/hello")]
    assert page.items[0].actor is not None
    assert page.items[0].actor.username == "bob"
    assert page.unread_count == 1
    assert (mine.items, mine.unread_count) == ([], 0)


@BOTH_DATABASES
async def test_likes_and_follows_notify_once_per_actor_and_subject(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob")
    for _ in range(3):
        async with ctx.db.unit_of_work() as session:
            await service.notify(
                session,
                recipient_id=ada.user_id,
                kind=NotificationKind.like,
                actor_id=bob.user_id,
                text="bob liked your thread",
                **KW,
            )
            await service.notify(
                session,
                recipient_id=ada.user_id,
                kind=NotificationKind.reply,
                actor_id=bob.user_id,
                text="bob replied",
                **KW,
            )
    async with ctx.db.unit_of_work() as session:
        page = await service.list_notifications(session, ada.actor)
    assert sorted(n.kind for n in page.items) == ["like", "reply", "reply", "reply"]


@BOTH_DATABASES
async def test_notify_many_skips_the_actor_and_duplicates(ctx: HubContext) -> None:

    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob")
    cyd = await person(ctx, "cyd")
    async with ctx.db.unit_of_work() as session:
        made = await service.notify_many(
            session,
            [bob.user_id, cyd.user_id, bob.user_id, ada.user_id],
            kind=NotificationKind.new_work,
            actor_id=ada.user_id,
            text="ada published a work",
            url="/artwork/1/koi",
            subject_type="work",
            subject_id="1",
        )
    assert made == 2
    async with ctx.db.unit_of_work() as session:
        counts = await service.unread_counts(session, [ada.user_id, bob.user_id, cyd.user_id])
    assert counts == {bob.user_id: 1, cyd.user_id: 1}


@pytest.mark.parametrize(
    "url", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/a\nb", "/a\\b"]
)
async def test_notices_link_only_to_paths_on_this_hub(ctx: HubContext, url: str) -> None:
    ada = await person(ctx, "ada")
    async with ctx.db.unit_of_work() as session:
        with pytest.raises(ValueError, match="path on this hub"):
            await service.notify(
                session,
                recipient_id=ada.user_id,
                kind=NotificationKind.reply,
                actor_id=None,
                text="x",
                url=url,
                subject_type="thread",
                subject_id="1",
            )


def test_mentions_are_whole_usernames_not_emails_or_paths() -> None:
    body = "hi @ada and @Bob, @ada again; mail ada@example.com, see /@cyd or @x (too short) @Dan_9!"
    assert service.mentioned_usernames(body) == ["ada", "Bob", "Dan_9"]
    many = " ".join(f"@user{i:03d}" for i in range(50))
    assert len(service.mentioned_usernames(many)) == service.MAX_MENTIONS


@BOTH_DATABASES
async def test_notify_mentions_tells_existing_users_once(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob")
    cyd = await person(ctx, "cyd")
    body = "@bob @BOB @cyd @ada @nobody_here look"
    async with ctx.db.unit_of_work() as session:
        told = await service.notify_mentions(
            session,
            body=body,
            actor_id=ada.user_id,
            url="/t/1/hello#c-5",
            subject_type="comment",
            subject_id="5",
            exclude=[cyd.user_id],
        )
    assert told == {bob.user_id}
    async with ctx.db.unit_of_work() as session:
        page = await service.list_notifications(session, bob.actor)
        cyd_page = await service.list_notifications(session, cyd.actor)
    assert [(n.kind, n.text) for n in page.items] == [("mention", "@ada mentioned you")]
    assert cyd_page.items == []


async def _notify_then_fail(ctx: HubContext, user_id: int) -> None:
    async with ctx.db.unit_of_work() as session:
        await service.notify(
            session,
            recipient_id=user_id,
            kind=NotificationKind.job_finished,
            actor_id=None,
            text="Your image is ready",
            url="/images",
            subject_type="job",
            subject_id="j1",
        )
        raise RuntimeError("the caller failed")


@BOTH_DATABASES
async def test_a_rolled_back_notice_is_not_stored(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    with pytest.raises(RuntimeError):
        await _notify_then_fail(ctx, ada.user_id)
    async with ctx.db.unit_of_work() as session:
        assert await service.unread_count(session, ada.user_id) == 0
