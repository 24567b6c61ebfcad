"""The search service as the domains use it: index, replace, remove, visibility, both engines."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hub.search import service
from hub.search.query import fts5_expression, parse_terms, websearch_text
from hub.search.service import DocKind
from tests.helpers import BOTH_DATABASES
from tests.hub.credits.helpers import make_user
from tests.hub.search.helpers import doc, found, index


@BOTH_DATABASES
async def test_indexed_documents_are_found_and_replaced_and_removed(ctx: Any) -> None:
    db = ctx.db
    await index(db, doc("1", "Misty harbour at dawn", "boats and gulls"))
    await index(db, doc("2", "Desert", "dunes at dusk"), doc("3", "Forest", "ferns"))
    assert await found(db, q="harbour") == ["1"]
    assert await found(db, q="dunes") == ["2"]
    # Insert or replace by (kind, ref_id): the old words are gone, the new ones found.
    await index(db, doc("1", "Snowy harbour", "icebergs"))
    assert await found(db, q="gulls") == []
    assert await found(db, q="icebergs") == ["1"]
    async with db.unit_of_work() as session:
        assert await service.count_documents(session, DocKind.thread) == 3
        await service.remove_document(session, DocKind.thread, "1")
        await service.remove_document(session, DocKind.thread, "missing")  # no error
    assert await found(db, q="harbour") == []
    assert await found(db) == ["3", "2"]  # no words: newest first, then the later row


@BOTH_DATABASES
async def test_the_same_ref_id_of_two_kinds_are_two_documents(ctx: Any) -> None:
    await index(ctx.db, doc("7", "lantern"), doc("7", "lantern", kind=DocKind.work))
    assert await found(ctx.db, q="lantern", type="work") == ["7"]
    assert len(await found(ctx.db, q="lantern")) == 2


@BOTH_DATABASES
async def test_private_documents_are_found_by_their_owner_only(ctx: Any) -> None:
    alice = await make_user(ctx.db, "alice")
    bob = await make_user(ctx.db, "bob")
    await index(
        ctx.db,
        doc("d1", "secret draft about comets", owner_id=alice.user_id, public=False),
        doc("p1", "public note about comets", owner_id=alice.user_id),
    )
    assert await found(ctx.db, alice.user_id, q="comets", sort="newest") == ["p1", "d1"]
    assert await found(ctx.db, bob.user_id, q="comets") == ["p1"]
    assert await found(ctx.db, None, q="comets") == ["p1"]
    assert await found(ctx.db, None, type="thread") == ["p1"]  # (alice and bob are users)


@BOTH_DATABASES
async def test_chinese_and_short_terms_match(ctx: Any) -> None:
    await index(
        ctx.db,
        doc("cn", "一只橘猫在雨中", "水彩画"),
        doc("en", "A cat in the rain", "watercolour"),
    )
    assert await found(ctx.db, q="橘猫") == ["cn"]  # two characters: the short-term path
    assert await found(ctx.db, q="橘猫在雨中") == ["cn"]
    assert await found(ctx.db, q="猫") == ["cn"]
    assert await found(ctx.db, q="水彩画") == ["cn"]
    assert await found(ctx.db, q="cat") == ["en"]
    assert await found(ctx.db, q="橘猫 水彩") == ["cn"]
    assert await found(ctx.db, q="橘猫 watercolour") == []


@pytest.mark.parametrize(
    "bad",
    [
        {"ref_id": ""},
        {"ref_id": "x" * 65},
        {"url": ""},
        {"model": "m" * 65},
    ],
)
async def test_a_badly_built_document_is_a_value_error(ctx: Any, bad: dict[str, Any]) -> None:
    broken = replace(doc("1", "t"), **bad)
    async with ctx.db.unit_of_work() as session:
        with pytest.raises(ValueError, match="must be"):
            await service.index_document(session, broken)


@pytest.mark.parametrize(
    ("q", "terms"),
    [
        ("red  fox", [("red", False), ("fox", False)]),
        (
            '-snow "red  fox" -"deep snow"',
            [("snow", True), ("red fox", False), ("deep snow", True)],
        ),
        ('"unclosed phrase', [("unclosed phrase", False)]),
        ('"" - x', [("-", False), ("x", False)]),
        ("a b c d e f g h i j", [(c, False) for c in "abcdefgh"]),  # at most 8
        ("nul\x00byte", [("nul", False), ("byte", False)]),
    ],
)
def test_the_query_language(q: str, terms: list[tuple[str, bool]]) -> None:
    assert [(t.text, t.negated) for t in parse_terms(q)] == terms


def test_terms_are_never_engine_syntax() -> None:
    terms = parse_terms('NEAR(a b) col:x say"hi or -"x y"')
    # Short terms (b, or) are matched by LIKE; the long ones are phrases, quotes doubled.
    assert fts5_expression(terms) == '("NEAR(a" AND "col:x" AND "say""hi") NOT "x y"'
    assert websearch_text(parse_terms('fox or -"deep snow"')) == '"fox" "or" -"deep snow"'
    assert fts5_expression(parse_terms("ab -cde")) is None  # nothing long and positive
