"""Every string of the templates is translated into Simplified Chinese (issue #11).

Three checks over ``templates/**.html``:

- no text a reader sees (element text, ``title``, ``alt``, ``placeholder``, ``aria-label``) is
  left outside ``_()`` / ``ngettext()``;
- every message the templates and ``hub/`` mark (what ``make i18n`` extracts) has a translation
  in ``hub/locale/zh_Hans/LC_MESSAGES/messages.po``, with the same ``%(name)s`` placeholders;
- the catalogue compiles (the hub compiles it in memory as it starts: hub.i18n).

``TEMPORARY_UNTRANSLATED`` names the templates colleagues are writing on other branches right now
(the room page, the new pages): the integrator wraps and translates them, then empties the list.
An entry naming a template that is translated, or that does not exist, fails the test, so the
list cannot go stale.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hub import i18n

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"

# TEMPORARY: templates being rebuilt on other branches while this one was written (issue #11).
# The integrator wraps their strings in _() and translates them, then removes the entry.
TEMPORARY_UNTRANSLATED: frozenset[str] = frozenset()

# Words that read the same in both languages (names, formats).
SAME_IN_EVERY_LANGUAGE = frozenset({"OpenAPI", "openapi.json", "GET", "JSON-LD"})
READ_ATTRIBUTES = ("title", "alt", "placeholder", "aria-label")
_JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
_WORD = re.compile(r"[A-Za-z]{2,}")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):
            self._skip += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.found.append(data.strip())


def bare_text(source: str) -> list[str]:
    """The readable text of a template that is not in a Jinja expression or tag."""
    parser = _Text()
    parser.feed(_JINJA.sub(" ", source))
    words = []
    for text in parser.found:
        rest = text
        for same in SAME_IN_EVERY_LANGUAGE:
            rest = rest.replace(same, "")
        if _WORD.search(rest):
            words.append(text)
    return words


def _templates() -> dict[str, Path]:
    return {path.relative_to(TEMPLATES).as_posix(): path for path in TEMPLATES.rglob("*.html")}


def test_no_template_text_is_left_unwrapped() -> None:
    bare = {
        name: found
        for name, path in sorted(_templates().items())
        if name not in TEMPORARY_UNTRANSLATED and (found := bare_text(path.read_text("utf-8")))
    }
    assert bare == {}, "wrap these in {{ _('...') }} and translate them:\n" + "\n".join(
        f"{name}: {found}" for name, found in bare.items()
    )


def test_the_temporary_list_names_untranslated_templates_only() -> None:
    templates = _templates()
    stale = {
        name
        for name in TEMPORARY_UNTRANSLATED
        if name not in templates or not bare_text(templates[name].read_text("utf-8"))
    }
    assert stale == set(), f"remove from TEMPORARY_UNTRANSLATED: {sorted(stale)}"


def _extracted() -> dict[str, set[str]]:
    """msgid (the singular) -> the files that use it, as `make i18n` extracts them."""
    method_map = [("hub/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found: dict[str, set[str]] = {}
    for filename, _, message, _, _ in extract_from_dir(
        str(ROOT),
        method_map,
        options,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, set()).add(filename)
    return found


def _catalogue() -> dict[str, tuple[str, ...]]:
    """msgid (the singular) -> its translations (one per plural form)."""
    with i18n.catalogue_path("zh_Hans").open("rb") as handle:
        catalog = read_po(handle)
    found: dict[str, tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or "fuzzy" in message.flags:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        found[msgid] = tuple(s or "" for s in strings)
    return found


def test_every_marked_string_has_a_chinese_translation() -> None:
    catalogue = _catalogue()
    missing = {
        msgid: sorted(files)
        for msgid, files in _extracted().items()
        if not any(s.strip() for s in catalogue.get(msgid, ()))
        and not all(
            Path(f).as_posix().removeprefix("templates/") in TEMPORARY_UNTRANSLATED for f in files
        )
    }
    assert missing == {}, "run `make i18n` and translate in hub/locale/zh_Hans: " + repr(missing)


def test_translations_keep_their_placeholders() -> None:
    wrong = {
        msgid: strings
        for msgid, strings in _catalogue().items()
        if any(set(_PLACEHOLDER.findall(s)) - set(_PLACEHOLDER.findall(msgid)) for s in strings)
        or any(
            s and not set(_PLACEHOLDER.findall(msgid)) <= set(_PLACEHOLDER.findall(s)) | {"num"}
            for s in strings
        )
    }
    assert wrong == {}


def test_the_catalogue_compiles_and_translates() -> None:
    catalogue = i18n.compile_catalogue("zh_Hans")
    assert catalogue.gettext("Sign in") == "登录"
    assert catalogue.ngettext("%(num)s comment", "%(num)s comments", 3) == "%(num)s 条评论"


def test_bare_text_finds_what_a_reader_sees() -> None:
    source = '<p title="Hello">{{ _("Wrapped") }} Bare words</p><script>let x = "no"</script>'
    assert bare_text(source) == ["Hello", "Bare words"]
    assert bare_text("<p>{{ _('Fine') }} · {{ n }}</p>") == []
