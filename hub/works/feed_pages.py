"""The feeds' public pages: ``/feed`` (latest, hot, following; per category) and the profile
``/u/{username}`` (works, favorites, followers, following) with its follow form.

Thin like routes.py: parse, resolve the actor, call the services, render. Anonymous visitors
read everything; the following tab and the follow form send them to sign in. Every page has its
title, description, canonical URL, Open Graph and Twitter tags and JSON-LD (``_seo.html``).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.accounts.actor import Actor
from hub.accounts.deps import csrf_token_for, current_actor
from hub.api import validate
from hub.context import HubContext, get_ctx
from hub.forum.service import category_slugs
from hub.i18n import N_, current_locale, gettext
from hub.pages import render, to_login
from hub.pagination import CURSOR_SCHEMA, DEFAULT_LIMIT, MAX_LIMIT
from hub.social.service import follow, list_follows
from hub.works import profiles
from hub.works.cards import WorkCard
from hub.works.feeds import FeedPage, FeedQuery, FeedSort, feed_page, page_key

# Shown in the request's language (hub.i18n.gettext where they are used).
FEED_TITLES = {
    FeedSort.latest: N_("Latest works"),
    FeedSort.hot: N_("Hot works"),
    FeedSort.following: N_("Works by people you follow"),
}
FEED_DESCRIPTIONS = {
    FeedSort.latest: N_("The newest images people made together in Creation Hub rooms."),
    FeedSort.hot: N_("What the community likes right now: works made together in Creation Hub."),
    FeedSort.following: N_("The newest works of the people you follow."),
}


def absolute(ctx: HubContext, url: str) -> str:
    return ctx.settings.public_url.rstrip("/") + url if url.startswith("/") else url


def _query_url(path: str, params: dict[str, str | None]) -> str:
    kept = {key: value for key, value in params.items() if value}
    return f"{path}?{urlencode(kept)}" if kept else path


def _item_list(ctx: HubContext, cards: list[WorkCard]) -> dict[str, Any]:
    return {
        "@type": "ItemList",
        "itemListElement": [
            {"@type": "ListItem", "position": n, "url": absolute(ctx, c.url), "name": c.title}
            for n, c in enumerate(cards, start=1)
        ],
    }


def _cover(ctx: HubContext, cards: list[WorkCard]) -> str | None:
    cover = next((card.cover for card in cards if card.cover is not None), None)
    return absolute(ctx, cover.url) if cover is not None else None


# --- /feed ---------------------------------------------------------------------------------------


def _feed_context(
    ctx: HubContext, query: FeedQuery, page: FeedPage, categories: list[str]
) -> dict[str, Any]:
    sort = None if query.sort is FeedSort.latest else query.sort.value
    title = gettext(FEED_TITLES[query.sort])
    if query.category:
        title = gettext("%(title)s in %(category)s") % {"title": title, "category": query.category}
    canonical = absolute(ctx, _query_url("/feed", {"sort": sort, "category": query.category}))
    next_url = None
    if page.next_cursor:
        next_url = _query_url(
            "/feed", {"sort": sort, "category": query.category, "cursor": page.next_cursor}
        )
    return {
        "page": page,
        "sort": query.sort.value,
        "sorts": [(s.value, gettext(FEED_TITLES[s])) for s in FeedSort],
        "category": query.category,
        "categories": categories,
        "next_url": next_url,
        "is_first_page": query.cursor is None,
        "title": title,
        "description": gettext(FEED_DESCRIPTIONS[query.sort]),
        "canonical": canonical,
        "image": _cover(ctx, page.items),
        "jsonld": {
            "@context": "https://schema.org",
            "@type": "CollectionPage",
            "name": title,
            "url": canonical,
            "mainEntity": _item_list(ctx, page.items),
        },
    }


async def _render_feed(request: Request, query: FeedQuery, actor: Actor | None) -> Response:
    ctx = get_ctx(request)
    cache = ctx.feeds.cache if ctx.feeds is not None else None
    async with ctx.db.unit_of_work() as session:
        page = await feed_page(session, actor, query, storage=ctx.storage, cache=cache)
        categories = await category_slugs(session)
    context = _feed_context(ctx, query, page, categories)
    context.update(actor=actor, csrf=csrf_token_for(request))
    return render(request, "works/feed.html", context)


async def feed(request: Request) -> Response:
    """``/feed?sort=latest|hot|following&category=&cursor=``: 20 cards a page and a link to
    the next. For visitors who are not signed in the whole page is the same, so it is cached
    (``hub.works.feed_cache``) and the same bytes served to all of them."""
    query = validate(FeedQuery, dict(request.query_params))
    actor = await current_actor(request)
    if query.sort is FeedSort.following and actor is None:
        return to_login(request)
    ctx = get_ctx(request)
    if actor is not None or ctx.feeds is None:
        return await _render_feed(request, query, actor)

    async def rendered() -> bytes:
        return bytes((await _render_feed(request, query, None)).body)

    # One copy per language: the page is rendered in the visitor's (hub.i18n).
    key = ("html", current_locale(), *page_key(query))
    body = await ctx.feeds.cache.get(key, rendered, stale_ok=True)
    return HTMLResponse(body)


# --- /u/{username} -------------------------------------------------------------------------------


class ProfileQuery(BaseModel):
    tab: Literal["works", "favorites", "followers", "following"] = "works"
    cursor: str | None = Field(None, json_schema_extra=CURSOR_SCHEMA)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


async def _profile_lists(
    request: Request, actor: Actor | None, username: str, query: ProfileQuery
) -> tuple[profiles.ProfileSummary, FeedPage | None, Any]:
    ctx = get_ctx(request)
    cursor, limit = query.cursor, query.limit
    works: FeedPage | None = None
    people: Any = None
    async with ctx.db.unit_of_work() as session:
        summary = await profiles.profile_summary(session, actor, username)
        name = summary.user.username
        if query.tab in ("works", "favorites"):
            listing = profiles.user_works if query.tab == "works" else profiles.user_favorites
            works = await listing(
                session, actor, name, cursor=cursor, limit=limit, storage=ctx.storage
            )
        else:
            followers = query.tab == "followers"
            people = await list_follows(
                session, name, followers=followers, cursor=cursor, limit=limit
            )
    return summary, works, people


def _profile_seo(ctx: HubContext, summary: profiles.ProfileSummary) -> dict[str, Any]:
    user = summary.user
    canonical = absolute(ctx, f"/u/{user.username}")
    name = user.display_name or user.username
    description = user.bio.strip() or (
        f"{name} (@{user.username}) on Creation Hub: {summary.work_count} published works, "
        f"{summary.follower_count} followers."
    )
    return {
        "title": f"{name} (@{user.username})",
        "description": description[:300],
        "canonical": canonical,
        "image": absolute(ctx, user.avatar_url),
        "jsonld": {
            "@context": "https://schema.org",
            "@type": "ProfilePage",
            "url": canonical,
            "mainEntity": {
                "@type": "Person",
                "name": name,
                "alternateName": f"@{user.username}",
                "url": canonical,
                "image": absolute(ctx, user.avatar_url),
                "description": user.bio,
            },
        },
    }


async def profile(request: Request) -> Response:
    """``/u/{username}?tab=works|favorites|followers|following&cursor=``: 404 for unknown or
    disabled users; another spelling of the name answers 301 to the canonical URL."""
    username = request.path_params["username"]
    query = validate(ProfileQuery, dict(request.query_params))
    actor = await current_actor(request)
    summary, works, people = await _profile_lists(request, actor, username, query)
    name = summary.user.username
    if name != username:
        target = _query_url(f"/u/{name}", dict(request.query_params))
        return RedirectResponse(target, status_code=301)
    ctx = get_ctx(request)
    next_cursor = (works or people).next_cursor
    tab = None if query.tab == "works" else query.tab
    context = {
        "actor": actor,
        "csrf": csrf_token_for(request),
        "summary": summary,
        "profile": summary.user,
        "tab": query.tab,
        "works": works,
        "people": people,
        "next_url": _query_url(f"/u/{name}", {"tab": tab, "cursor": next_cursor})
        if next_cursor
        else None,
        "is_first_page": query.cursor is None,
        **_profile_seo(ctx, summary),
    }
    return render(request, "works/profile.html", context)


class FollowForm(BaseModel):
    csrf_token: str = ""
    on: Literal["1", "0"]


async def follow_form(request: Request) -> Response:
    """The profile's follow button (a form post; the JSON API is ``PUT/DELETE
    /api/v1/users/{username}/follow``). Back to the profile with 303."""
    username = request.path_params["username"]
    back = f"/u/{quote(username)}"
    actor = await current_actor(request)  # checks the form's CSRF token for a session
    if actor is None:
        return RedirectResponse(f"/login?next={quote(back)}", status_code=303)
    form = validate(FollowForm, dict(await request.form()))
    ctx = get_ctx(request)
    async with ctx.db.unit_of_work() as session:
        # 404 unknown user, 422 yourself, 429 past the follow limit (error pages).
        await follow(session, actor, username, form.on == "1", limiter=ctx.limiter)
    return RedirectResponse(back, status_code=303)


routes: list[BaseRoute] = [
    Route("/feed", feed, methods=["GET"], name="feed_page"),
    Route("/u/{username}", profile, methods=["GET"], name="profile_page"),
    Route("/u/{username}/follow", follow_form, methods=["POST"], name="profile_follow"),
]
