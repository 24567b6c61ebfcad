"""The social service contract other domains call: reactions and follows."""

from __future__ import annotations

import pytest

from hub.context import HubContext
from hub.errors import BadRequest, NotFound, ValidationFailed
from hub.notifications.service import list_notifications
from hub.social import service
from hub.social.service import ReactionKind, TargetType
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import person

LIKE, FAV, WORK = ReactionKind.like, ReactionKind.favorite, TargetType.work


@BOTH_DATABASES
async def test_set_reaction_reports_changes_only(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    async with ctx.db.unit_of_work() as session:
        first = await service.set_reaction(session, ada.actor, WORK, 7, LIKE, True, limiter=None)
        again = await service.set_reaction(session, ada.actor, WORK, 7, LIKE, True, limiter=None)
        fav = await service.set_reaction(session, ada.actor, WORK, 7, FAV, True, limiter=None)
        thread = await service.set_reaction(
            session, ada.actor, TargetType.thread, 7, LIKE, True, limiter=None
        )
    assert (first, again, fav, thread) == (True, False, True, True)
    async with ctx.db.unit_of_work() as session:
        liked = await service.reacted_ids(session, ada.user_id, WORK, LIKE, [7, 8])
        anonymous = await service.reacted_ids(session, None, WORK, LIKE, [7])
        off = await service.set_reaction(session, ada.actor, WORK, 7, LIKE, False, limiter=None)
        off_again = await service.set_reaction(
            session, ada.actor, WORK, 7, LIKE, False, limiter=None
        )
        after = await service.reacted_ids(session, ada.user_id, WORK, LIKE, [7])
    assert (liked, anonymous, off, off_again, after) == ({7}, set(), True, False, set())


@BOTH_DATABASES
async def test_reaction_page_lists_favorites_newest_first(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    for work_id in (3, 1, 2, 9, 5):
        async with ctx.db.unit_of_work() as session:
            await service.set_reaction(session, ada.actor, WORK, work_id, FAV, True, limiter=None)
    seen: list[int] = []
    cursor = None
    async with ctx.db.unit_of_work() as session:
        while True:
            ids, cursor = await service.reaction_page(
                session, ada.user_id, WORK, FAV, cursor=cursor, limit=2
            )
            seen += ids
            if cursor is None:
                break
        with pytest.raises(BadRequest):
            await service.reaction_page(session, ada.user_id, WORK, FAV, cursor="bad!", limit=2)
    assert seen == [5, 9, 2, 1, 3]


@BOTH_DATABASES
async def test_follow_unknown_user_is_404_and_yourself_422(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    async with ctx.db.unit_of_work() as session:
        with pytest.raises(NotFound):
            await service.follow(session, ada.actor, "nobody", True, limiter=None)
        with pytest.raises(ValidationFailed):
            await service.follow(session, ada.actor, "ADA", True, limiter=None)


@BOTH_DATABASES
async def test_follow_is_idempotent_counts_and_notifies_once(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob", "Bob B.")
    async with ctx.db.unit_of_work() as session:
        changes = [
            await service.follow(session, bob.actor, "ada", True, limiter=None),
            await service.follow(session, bob.actor, "Ada", True, limiter=None),
            await service.follow(session, bob.actor, "ada", False, limiter=None),
            await service.follow(session, bob.actor, "ada", False, limiter=None),
            await service.follow(session, bob.actor, "ada", True, limiter=None),
        ]
    assert changes == [True, False, True, False, True]
    async with ctx.db.unit_of_work() as session:
        assert await service.follow_counts(session, ada.user_id) == (1, 0)
        assert await service.follow_counts(session, bob.user_id) == (0, 1)
        assert await service.is_following(session, bob.user_id, ada.user_id)
        assert not await service.is_following(session, ada.user_id, bob.user_id)
        assert await service.follower_ids(session, ada.user_id) == [bob.user_id]
        assert await service.followee_ids(session, bob.user_id) == [ada.user_id]
        page = await list_notifications(session, ada.actor)
    assert [(n.kind, n.text, n.url) for n in page.items] == [
        ("follow", "Bob B. (@bob) followed you", "/u/bob")
    ]
