"""The site's languages (English and Simplified Chinese) and time zones: which one a request
gets, the message catalogues, and the ``_()`` / ``ngettext()`` that templates call.

- Catalogues are ``hub/locale/<locale>/LC_MESSAGES/messages.po``, compiled in memory the first
  time a process needs them (babel), so neither ``make run`` nor a deploy has a build step and no
  binary ``.mo`` file can go stale in git (ADR 0021). ``make i18n`` extracts and updates them.
- The language of a request is chosen once, by :mod:`hub.web.shell`: the account's language,
  else the ``hub_lang`` cookie (the switch in the page header), else ``Accept-Language``, else
  English. It is kept in a context variable, so every template rendered while answering the
  request (error pages included) reads it without being handed it.
"""

from __future__ import annotations

import contextvars
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
# Locale id (the catalogue's folder name) -> the BCP 47 tag for <html lang> and Intl, and the
# language's own name for the switch.
LOCALES: dict[str, tuple[str, str]] = {
    "en": ("en", "English"),
    "zh_Hans": ("zh-Hans", "简体中文"),
}
LANG_COOKIE = "hub_lang"


@dataclass(frozen=True)
class Language:
    locale: str
    tag: str
    name: str


def languages() -> list[Language]:
    return [Language(locale, tag, name) for locale, (tag, name) in LOCALES.items()]


def normalize_locale(value: str | None) -> str | None:
    """One of :data:`LOCALES` for a locale id or a language tag (``zh-CN``, ``zh_hans``, ``en-GB``),
    or None when the hub has no catalogue for it. Every Chinese tag reads Simplified Chinese: the
    hub has no Traditional catalogue, and a reader of Traditional Chinese reads it more easily
    than English."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    if primary == "zh":
        return "zh_Hans"
    if primary == "en":
        return "en"
    return None


def negotiate(accept_language: str | None) -> str | None:
    """The best of our locales for an ``Accept-Language`` header (q-values honoured), or None."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        locale = normalize_locale(tag)
        if locale is not None and quality > 0:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else None


_catalogues: dict[str, NullTranslations] = {}
_lock = threading.Lock()


def catalogue_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogue(locale: str) -> NullTranslations:
    """The .po file compiled in memory. Fuzzy entries are left out, as msgfmt does."""
    path = catalogue_path(locale)
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale.replace("_Hans", ""), domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of ``locale`` (English is the source language: no catalogue)."""
    found = _catalogues.get(locale)
    if found is None:
        with _lock:
            found = _catalogues.get(locale)
            if found is None:
                found = (
                    NullTranslations() if locale == DEFAULT_LOCALE else compile_catalogue(locale)
                )
                _catalogues[locale] = found
    return found


# --- the current request's language and time zone ---------------------------------------------

_current_locale: contextvars.ContextVar[str] = contextvars.ContextVar(
    "hub_locale", default=DEFAULT_LOCALE
)
_current_zone: contextvars.ContextVar[str | None] = contextvars.ContextVar("hub_zone", default=None)


def current_locale() -> str:
    return _current_locale.get()


def current_zone() -> str | None:
    """The account's time zone name, when it chose one."""
    return _current_zone.get()


def set_current(locale: str, zone: str | None = None) -> None:
    """For the rest of this request (its task and what it awaits)."""
    _current_locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    _current_zone.set(zone if zone and is_zone(zone) else None)


@contextmanager
def using(locale: str, zone: str | None = None) -> Iterator[None]:
    """Temporarily render in ``locale`` (tests, scripts)."""
    locale_token = _current_locale.set(locale)
    zone_token = _current_zone.set(zone)
    try:
        yield
    finally:
        _current_locale.reset(locale_token)
        _current_zone.reset(zone_token)


def gettext(message: str) -> str:
    return translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).ngettext(singular, plural, n)


def html_lang() -> str:
    return LOCALES.get(current_locale(), LOCALES[DEFAULT_LOCALE])[0]


# --- time zones ---------------------------------------------------------------------------------


def is_zone(name: str) -> bool:
    if name not in _zone_names():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_zones: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _zones  # a cache of a list that never changes while running
    if _zones is None:
        _zones = frozenset(available_timezones())
    return _zones


def local_datetime(value: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``value`` in the account's time zone when it chose one (named after the format), else in
    UTC marked as such. The page's script re-renders every ``<time datetime>`` in the viewer's
    own zone and language (static/js/time.js); this is what shows before, and without, script."""
    zone: tzinfo
    name = current_zone()
    if name:
        zone = ZoneInfo(name)
        label = ""
    else:
        zone = ZoneInfo("UTC")
        label = " UTC" if "%H" in fmt else ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(zone).strftime(fmt) + label


def N_(message: str) -> str:
    """Marks a constant for extraction (``make i18n``) without translating it yet: translate
    it with :func:`gettext` where it is shown."""
    return message
