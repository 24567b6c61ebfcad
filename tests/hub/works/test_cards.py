"""Work cards: which works become cards, in which order, with what."""

from __future__ import annotations

from hub.context import HubContext
from hub.db import utcnow
from hub.social.service import ReactionKind
from hub.works.cards import work_cards
from hub.works.models import WorkStatus
from tests.helpers import BOTH_DATABASES
from tests.hub.notifications.helpers import person
from tests.hub.works.feed_helpers import make_image, make_work, react, set_columns


@BOTH_DATABASES
async def test_cards_keep_the_order_and_leave_out_unlisted_works(ctx: HubContext) -> None:
    ada = await person(ctx, "ada", "Ada L.")
    first = await make_work(ctx, ada, "First")
    second = await make_work(ctx, ada, "Second", category="portraits")
    draft = await make_work(ctx, ada, "Draft", status=WorkStatus.draft)
    deleted = await make_work(ctx, ada, "Deleted")
    hidden = await make_work(ctx, ada, "Hidden")
    await set_columns(ctx, deleted, deleted_at=utcnow())
    await set_columns(ctx, hidden, hidden_at=utcnow())
    async with ctx.db.unit_of_work() as session:
        cards = await work_cards(
            session, None, [second, draft, deleted, first, hidden, 424242, second]
        )
        assert await work_cards(session, None, []) == []
    assert [c.work_id for c in cards] == [second, first]
    card = cards[0]
    assert (card.title, card.slug, card.category) == ("Second", "second", "portraits")
    assert card.url == f"/artwork/{second}/second"
    assert card.author.username == "ada"
    assert card.author.display_name == "Ada L."
    assert card.author.url == "/u/ada"
    assert card.cover is None
    assert (card.liked, card.favorited) == (False, False)


@BOTH_DATABASES
async def test_cards_carry_cover_counts_and_the_viewers_reactions(ctx: HubContext) -> None:
    ada = await person(ctx, "ada")
    bob = await person(ctx, "bob")
    image = await make_image(ctx, ada)
    liked = await make_work(ctx, ada, "Liked", cover=image)
    other = await make_work(ctx, ada, "Other", cover="not-an-image-id")
    await react(ctx, bob, liked)
    await react(ctx, bob, liked, ReactionKind.favorite)
    await react(ctx, ada, other, ReactionKind.favorite)
    async with ctx.db.unit_of_work() as session:
        as_bob = await work_cards(session, bob.actor, [liked, other])
        as_anon = await work_cards(session, None, [liked, other], storage=ctx.storage)
    first, second = as_bob
    assert (first.like_count, first.favorite_count) == (1, 1)
    assert (first.liked, first.favorited) == (True, True)
    assert (second.liked, second.favorited) == (False, False)
    assert second.favorite_count == 1
    assert second.cover is None  # no such image
    assert first.cover is not None
    assert first.cover.thumb_url.startswith("/media/images/")
    assert first.cover.thumb_url.endswith(f"{image}-thumb.webp")
    assert (first.cover.width, first.cover.height) == (640, 480)
    assert as_anon[0].cover == first.cover  # local storage serves /media too
    assert not any(c.liked or c.favorited for c in as_anon)
