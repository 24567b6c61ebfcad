"""The forum's service contract (used by works and search): create_thread, add_comment,
visible_thread, category_slugs, comment_counts; and the seeded categories."""

from __future__ import annotations

import pytest

from hub.db import Database
from hub.errors import ValidationFailed
from hub.forum import service
from hub.forum.categories import DEFAULT_CATEGORIES
from hub.forum.comments import delete_comment
from hub.forum.errors import BodyTooLong, CommentNotFound, ThreadLocked, ThreadNotFound
from hub.forum.reading import read_comments
from hub.forum.threads import delete_thread, set_flag
from tests.helpers import BOTH_DATABASES
from tests.hub.forum.helpers import make_user, new_thread


@BOTH_DATABASES
async def test_categories_are_seeded_in_order(db: Database) -> None:
    async with db.unit_of_work() as session:
        slugs = await service.category_slugs(session)
    assert slugs == [slug for slug, *_ in DEFAULT_CATEGORIES]


@BOTH_DATABASES
async def test_create_thread_returns_its_ref(db: Database) -> None:
    ada = await make_user(db, "ada")
    ref = await new_thread(db, ada, category="showcase", title="  Koi at Dusk: v2!  ")
    assert ref.title == "Koi at Dusk: v2!"
    assert ref.slug == "koi-at-dusk-v2"
    assert ref.url == f"/t/{ref.id}/koi-at-dusk-v2"
    assert (ref.author_id, ref.locked) == (ada.user_id, False)
    async with db.unit_of_work() as session:
        assert await service.visible_thread(session, None, ref.id) == ref


@BOTH_DATABASES
async def test_a_title_without_ascii_gets_a_fallback_slug(db: Database) -> None:
    ada = await make_user(db, "ada")
    ref = await new_thread(db, ada, title="锦鲤")
    assert ref.slug == "thread"


@BOTH_DATABASES
async def test_create_thread_refuses_bad_text_and_unknown_categories(db: Database) -> None:
    ada = await make_user(db, "ada")
    cases = [
        ({"category": "nope"}, ValidationFailed),
        ({"title": "   "}, ValidationFailed),
        ({"title": "a\u200bb"}, ValidationFailed),
        ({"title": "x" * 201}, ValidationFailed),
        ({"body": " \n "}, ValidationFailed),
        ({"body": "a\x00b"}, ValidationFailed),
        ({"body": "x" * 20_001}, BodyTooLong),
    ]
    for fields, error in cases:
        with pytest.raises(error):
            await new_thread(db, ada, **fields)
    async with db.unit_of_work() as session:
        assert await service.comment_counts(session, [1, 2]) == {1: 0, 2: 0}


@BOTH_DATABASES
async def test_add_comment_counts_and_answers_404_and_409(db: Database) -> None:
    ada, bob = await make_user(db, "ada"), await make_user(db, "bob")
    ref = await new_thread(db, ada)
    async with db.unit_of_work() as session:
        first = await service.add_comment(session, bob, ref.id, body="Lovely", limiter=None)
        reply = await service.add_comment(
            session, ada, ref.id, body="Thanks", parent_id=first.id, limiter=None
        )
    assert first.url == f"{ref.url}#c{first.id}"
    assert reply.thread_id == ref.id
    async with db.unit_of_work() as session:
        assert await service.comment_counts(session, [ref.id]) == {ref.id: 2}
        with pytest.raises(ThreadNotFound):
            await service.add_comment(session, bob, 999, body="x", limiter=None)
        with pytest.raises(CommentNotFound):
            await service.add_comment(session, bob, ref.id, body="x", parent_id=999, limiter=None)
    moderator = await make_user(db, "moddy", role="moderator")
    async with db.unit_of_work() as session:
        await set_flag(session, moderator, ref.id, flag="locked", on=True)
    async with db.unit_of_work() as session:
        with pytest.raises(ThreadLocked):
            await service.add_comment(session, bob, ref.id, body="late", limiter=None)
        assert (await service.visible_thread(session, bob, ref.id)).locked


@BOTH_DATABASES
async def test_deleted_threads_and_comments_leave_the_counts(db: Database) -> None:
    ada, bob = await make_user(db, "ada"), await make_user(db, "bob")
    ref = await new_thread(db, ada)
    async with db.unit_of_work() as session:
        first = await service.add_comment(session, bob, ref.id, body="one", limiter=None)
        await service.add_comment(session, bob, ref.id, body="two", limiter=None)
    async with db.unit_of_work() as session:
        await delete_comment(session, bob, first.id)
    async with db.unit_of_work() as session:
        assert await service.comment_counts(session, [ref.id]) == {ref.id: 1}
        with pytest.raises(CommentNotFound):
            await service.add_comment(
                session, ada, ref.id, body="x", parent_id=first.id, limiter=None
            )
    async with db.unit_of_work() as session:
        await delete_thread(session, ada, ref.id)
    async with db.unit_of_work() as session:
        with pytest.raises(ThreadNotFound):
            await service.visible_thread(session, ada, ref.id)
        with pytest.raises(ThreadNotFound):
            await service.add_comment(session, bob, ref.id, body="x", limiter=None)
        assert await service.comment_counts(session, [ref.id]) == {ref.id: 0}


@BOTH_DATABASES
async def test_the_reply_tree_is_depth_first_and_deep_replies_flatten(db: Database) -> None:
    ada = await make_user(db, "ada")
    ref = await new_thread(db, ada)
    async with db.unit_of_work() as session:
        a = await service.add_comment(session, ada, ref.id, body="a", limiter=None)
        b = await service.add_comment(session, ada, ref.id, body="b", limiter=None)
        parent = a.id
        chain = []
        for depth in range(1, 10):
            made = await service.add_comment(
                session, ada, ref.id, body=f"a{depth}", parent_id=parent, limiter=None
            )
            chain.append(made.id)
            parent = made.id
        b1 = await service.add_comment(
            session, ada, ref.id, body="b1", parent_id=b.id, limiter=None
        )
    async with db.unit_of_work() as session:
        page = await read_comments(session, None, ref.id, cursor=None, limit=100)
    bodies = [c.body for c in page.items]
    assert bodies == ["a", *(f"a{d}" for d in range(1, 10)), "b", "b1"]
    depths = [c.depth for c in page.items]
    assert depths == [0, 1, 2, 3, 4, 5, 6, 7, 7, 7, 0, 1]
    # Flattened replies still name the comment they answer.
    assert [c.parent_id for c in page.items][8:10] == chain[6:8]
    assert page.items[-1].comment_id == b1.id
