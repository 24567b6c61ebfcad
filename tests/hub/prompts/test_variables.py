"""The template syntax, the tokenizer and the word diff on their own."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.prompts.textdiff import word_diff
from hub.prompts.tokens import last_term, terms, tokens
from hub.prompts.variables import Variable, VariableError, fill, missing, segments, variables


def test_variables_in_order_with_defaults() -> None:
    found = variables("a {subject} in {style=ink wash}, {主体=猫} {subject}", "no {flaw=text}")
    assert found == [
        Variable("subject", None),
        Variable("style", "ink wash"),
        Variable("主体", "猫"),
        Variable("flaw", "text"),
    ]
    assert missing(found, {}) == ["subject"]
    assert missing(found, {"subject": "fox"}) == []


@pytest.mark.parametrize(
    "text",
    ["{{literal}}", "{ spaced }", "{9lives}", "{a-b}", "{", "}", "{=x}", "{x=a{"],
)
def test_what_is_not_a_variable_stays_text(text: str) -> None:
    assert [s.name for s in segments(text) if s.name] == []
    assert fill(text, {}, {}) == text.replace("{{", "{").replace("}}", "}")


def test_a_default_may_be_given_once_or_repeated() -> None:
    assert variables("{a=1} {a} {a=1}") == [Variable("a", "1")]
    with pytest.raises(VariableError):
        variables("{a=1} {a=2}")
    with pytest.raises(VariableError):
        variables(" ".join(f"{{v{n}}}" for n in range(33)))


def test_fill_uses_values_then_defaults_and_never_refills() -> None:
    text = "{subject}, {style=ink}, {{braces}}, {subject}"
    defaults = {v.name: v.default for v in variables(text)}
    assert fill(text, {"subject": "a {style}"}, defaults) == "a {style}, ink, {braces}, a {style}"


def test_tokens_split_cjk_by_character_and_latin_by_word() -> None:
    assert tokens("一只猫 in the rain, 水彩!") == [
        "一",
        "只",
        "猫",
        " ",
        "in",
        " ",
        "the",
        " ",
        "rain",
        ",",
        " ",
        "水",
        "彩",
        "!",
    ]
    assert terms("\uff32\uff21\uff29\uff2e 一只猫 in_the") == ["rain", "一只猫", "in_the"]
    assert last_term("a cat 水彩") == "水彩"
    assert last_term("a cat,") == ""


@given(st.text(max_size=200))
def test_tokens_join_back_to_the_text(text: str) -> None:
    assert "".join(tokens(text)) == text


@given(st.text(max_size=80), st.text(max_size=80))
def test_a_diff_rebuilds_both_texts(before: str, after: str) -> None:
    pieces = word_diff(before, after)
    assert "".join(p.text for p in pieces if p.op != "insert") == before
    assert "".join(p.text for p in pieces if p.op != "delete") == after
    assert all(a.op != b.op for a, b in itertools.pairwise(pieces))
