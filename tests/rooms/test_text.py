"""Server-side text edits: pycrdt indexes ``Text`` in UTF-8 bytes, the helpers in characters."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from rooms.room import delete_text, insert_text, new_document, read_document

ROOT = Path(__file__).resolve().parents[2]
HELPERS = ROOT / "rooms" / "room.py"


def test_pycrdt_still_indexes_text_in_utf8_bytes() -> None:
    """The helpers convert character indices to byte offsets. If a pycrdt upgrade switches to
    character indices, this fails: revisit insert_text/delete_text before upgrading."""
    doc: Doc[Any] = Doc()
    doc["t"] = text = Text("你好")
    assert len(text) == 6
    text.insert(3, "A")
    assert str(text) == "你A好"
    assert text[1:2] == "A"  # reading slices str(text), in characters
    del text[0:3]  # writing takes bytes again
    assert str(text) == "A好"


def test_text_helpers_use_character_indices() -> None:
    doc: Doc[Text] = Doc()
    doc["prompt"] = text = Text()
    insert_text(text, 0, "你好世界")
    insert_text(text, 2, "😀")
    delete_text(text, 0, 1)
    delete_text(text, 1, 0)
    assert str(text) == "好😀世界"
    with pytest.raises(IndexError):
        insert_text(text, 99, "x")
    with pytest.raises(IndexError):
        insert_text(text, -1, "x")
    with pytest.raises(IndexError):
        delete_text(text, 3, 5)
    with pytest.raises(IndexError):
        delete_text(text, -1, 1)
    assert str(text) == "好😀世界"  # refused edits change nothing


def test_helper_edits_replay_on_a_fresh_document() -> None:
    """A byte offset inside a character yields an update peers keep pending forever; the
    helpers' updates apply cleanly elsewhere."""
    source = new_document()
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    prompt = source.get("prompt", type=Text)
    insert_text(prompt, 0, "一只猫在雨中")
    insert_text(prompt, 3, "🐈")
    delete_text(prompt, 5, 1)
    insert_text(prompt, 6, "。")
    replica = new_document()
    for update in updates:
        replica.apply_update(update)
    assert read_document(replica)["prompt"] == "一只猫🐈在中。" == str(prompt)
    assert replica.get_state() == source.get_state()  # nothing pending


def _imports_pycrdt_text(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "pycrdt"
            and any(alias.name == "Text" for alias in node.names)
        ):
            return True
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "Text"
            and isinstance(node.value, ast.Name)
            and node.value.id == "pycrdt"
        ):
            return True
    return False


def test_only_the_helpers_module_touches_pycrdt_text() -> None:
    """Server code (hub/ and rooms/) edits prompt text through rooms.room's helpers only."""
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("rooms", "hub")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != HELPERS and _imports_pycrdt_text(ast.parse(path.read_text("utf-8")))
    ]
    assert offenders == [], "use rooms.room.insert_text/delete_text (docs/rooms.md, Pitfalls)"
    assert _imports_pycrdt_text(ast.parse(HELPERS.read_text("utf-8")))  # the scan works
    assert _imports_pycrdt_text(ast.parse("import pycrdt\npycrdt.Text()"))
