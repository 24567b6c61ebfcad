"""The account's display preferences: the language and the time zone pages are shown in
(``GET/PATCH /api/v1/me/preferences``, and the language switch in the page header).

None means "not chosen": the browser's ``Accept-Language`` and its own time zone decide then
(hub.i18n, docs/web.md)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from hub import i18n
from hub.accounts.actor import Actor
from hub.accounts.users import access_me
from hub.db import utcnow

LocaleId = Literal["en", "zh_Hans"]


def _known_zone(value: str) -> str:
    if not i18n.is_zone(value):
        raise ValueError("not an IANA time zone name (e.g. Europe/Paris, Asia/Shanghai)")
    return value


Zone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


class PreferencesOut(BaseModel):
    locale: LocaleId | None = Field(
        description="Language of the pages; null: from the browser's Accept-Language."
    )
    timezone: str | None = Field(
        description="IANA time zone dates are shown in; null: the browser's own."
    )


class PreferencesIn(BaseModel):
    """Fields left out are kept; null clears a choice."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    locale: LocaleId | None = None
    timezone: Zone | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("send locale, timezone or both")
        return self


async def get_preferences(session: AsyncSession, actor: Actor) -> PreferencesOut:
    user = await access_me(session, actor)
    return PreferencesOut(locale=_locale(user.locale), timezone=user.timezone)


async def update_preferences(
    session: AsyncSession, actor: Actor, changes: PreferencesIn
) -> PreferencesOut:
    user = await access_me(session, actor)
    given = changes.model_fields_set
    if "locale" in given:
        user.locale = changes.locale
    if "timezone" in given:
        user.timezone = changes.timezone
    user.updated_at = utcnow()
    await session.flush()
    return PreferencesOut(locale=_locale(user.locale), timezone=user.timezone)


def _locale(value: str | None) -> LocaleId | None:
    return "zh_Hans" if value == "zh_Hans" else "en" if value == "en" else None
