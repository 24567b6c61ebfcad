"""What search engines and link previews read from an artwork page: the description, the
absolute URLs, and the JSON-LD (a schema.org ``VisualArtwork`` whose ``image`` is an
``ImageObject``, the people who made it as ``creator``s, likes as an ``InteractionCounter``).

Values are plain data; the template escapes them (``_seo.html`` puts the JSON-LD through
``tojson``, which escapes ``<``, ``>`` and ``&``, so no text can close the script element).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.forum.markdown import plain_text
from hub.works.schemas import PersonOut, WorkOut

DESCRIPTION_CHARS = 200


@dataclass(frozen=True)
class ArtworkSeo:
    title: str
    description: str
    canonical: str
    image: str | None
    jsonld: dict[str, Any]


def absolute(base: str, url: str) -> str:
    if url.startswith(("http://", "https://")):
        return url
    return base.rstrip("/") + url


def _clip(value: str, limit: int = DESCRIPTION_CHARS) -> str:
    words = " ".join(value.split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def describe(work: WorkOut) -> str:
    if work.description.strip():
        return plain_text(work.description, limit=DESCRIPTION_CHARS)
    by = f"By {work.author.display_name}"
    return _clip(f"{by}. Prompt: {work.prompt}") if work.prompt else by


def _person(base: str, who: PersonOut) -> dict[str, Any]:
    return {"@type": "Person", "name": who.display_name, "url": absolute(base, who.profile_url)}


def _image(base: str, work: WorkOut) -> dict[str, Any] | None:
    if not work.images:
        return None
    cover = work.images[0]
    image: dict[str, Any] = {
        "@type": "ImageObject",
        "contentUrl": absolute(base, cover.url),
        "thumbnailUrl": absolute(base, cover.thumb_url),
        "width": cover.width,
        "height": cover.height,
    }
    if cover.prompt:
        image["caption"] = _clip(cover.prompt, 500)
    return image


def artwork_seo(base: str, work: WorkOut) -> ArtworkSeo:
    canonical = absolute(base, work.url)
    description = describe(work)
    jsonld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "VisualArtwork",
        "name": work.title,
        "description": description,
        "url": canonical,
        "artMedium": "Digital image",
        "author": _person(base, work.author),
        "creator": [_person(base, c) for c in work.contributors] or [_person(base, work.author)],
        "dateCreated": work.created_at.isoformat(),
        "dateModified": work.updated_at.isoformat(),
        "interactionStatistic": {
            "@type": "InteractionCounter",
            "interactionType": "https://schema.org/LikeAction",
            "userInteractionCount": work.like_count,
        },
    }
    if work.published_at is not None:
        jsonld["datePublished"] = work.published_at.isoformat()
    if work.category:
        jsonld["genre"] = work.category
    image = _image(base, work)
    if image is not None:
        jsonld["image"] = image
    return ArtworkSeo(
        title=work.title,
        description=description,
        canonical=canonical,
        image=image["contentUrl"] if image else None,
        jsonld=jsonld,
    )
