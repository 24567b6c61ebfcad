"""The site the security tests attack: the hub behind a real uvicorn (``live``, embedded worker,
rate limits lifted) with two people, a room they share, an open invite, a personal token, a
finished job with its image, a published work of that image, a forum thread with a comment, a
prompt template with a batch made of it, a notification (bob follows alice) and a paid
offline checkout of alice's, all made through the HTTP API.

``Site.params`` fills the path parameters of every route (``tests/security/routes.py``). A new
route with a parameter it does not know fails the tests that walk the routes, by name: add the
value here, made through the API as the others are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from hub.accounts.models import User
from hub.context import HubContext
from tests.e2e.helpers import PASSWORD, sign_up
from tests.helpers import eventually
from tests.hub.credits.helpers import EMBEDDED_WORKER
from tests.live import LiveServer

RATE_LIMITS = (
    "rate_limit_login",
    "rate_limit_login_ip",
    "rate_limit_register",
    "rate_limit_room_create",
    "rate_limit_generate",
    "rate_limit_upload",
)
ROOM_STORAGE = {"room_updates", "room_snapshots"}
JOB = {"model": "offline-sketch", "prompt": "a quiet harbour", "width": 64, "height": 64}


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    # Every test here sends more than a person would; a 429 would hide the answer it checks.
    return {**EMBEDDED_WORKER, **{name: "100000/minute" for name in RATE_LIMITS}}


@dataclass
class Person:
    username: str
    user_id: int
    cookie: str
    csrf: str
    bearer: str

    @property
    def api(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.bearer}"}

    @property
    def browser(self) -> dict[str, str]:
        """What a signed-in browser sends with an unsafe request of this site."""
        return {"cookie": f"hub_session={self.cookie}", "x-csrf-token": self.csrf}


@dataclass
class Site:
    live: LiveServer
    alice: Person  # an admin, owner of the room
    bob: Person  # an editor of the room
    params: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.live.http_url

    @property
    def ctx(self) -> HubContext:
        ctx: HubContext = self.live.app.state.ctx
        return ctx

    def http(self, **options: Any) -> httpx.AsyncClient:
        """A client of the site that sends the site's own Origin, as its pages do."""
        options.setdefault("timeout", 30)
        headers = {"origin": self.url, **options.pop("headers", {})}
        return httpx.AsyncClient(base_url=self.url, headers=headers, **options)

    async def row_counts(self) -> dict[str, int]:
        """Rows in every table: a refused request must not change any of them. The stored
        room documents are left out: a room that empties compacts its updates into a snapshot
        on its own (docs/rooms.md), whoever knocked at its door."""
        from sqlalchemy import func, select

        from hub.models import metadata

        async with self.ctx.db.unit_of_work() as session:
            return {
                table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
                for table in metadata.sorted_tables
                if table.name not in ROOM_STORAGE
            }

    async def person(self, username: str) -> Person:
        """A new account signed up through the API: session cookie, CSRF token, access token."""
        async with self.http() as http:
            cookie, csrf = await sign_up(http, username, username.title())
            http.cookies.clear()
            token = await http.post(
                "/api/v1/auth/token", json={"login": username, "password": PASSWORD}
            )
            me = await http.get("/api/v1/me", headers={"cookie": f"hub_session={cookie}"})
        assert token.status_code == 200, token.text
        user_id = int(me.json()["user_id"])
        return Person(username, user_id, cookie, csrf, token.json()["access_token"])

    async def again(self, who: Person) -> Person:
        """A new session of ``who``, signed in through the API (its own cookie and token)."""
        async with self.http() as http:
            answer = await http.post(
                "/api/v1/auth/login", json={"login": who.username, "password": PASSWORD}
            )
        assert answer.status_code == 200, answer.text
        cookie = answer.cookies.get("hub_session")
        assert cookie
        return Person(who.username, who.user_id, cookie, answer.json()["csrf_token"], who.bearer)


async def _make_admin(ctx: HubContext, user_id: int) -> None:
    async with ctx.db.unit_of_work() as session:
        await session.execute(update(User).where(col(User.user_id) == user_id).values(role="admin"))


async def _post(http: httpx.AsyncClient, path: str, who: Person, body: Any = None) -> Any:
    answer = await http.post(path, json=body, headers=who.api)
    assert answer.status_code in (200, 201), (path, answer.text)
    return answer.json()


async def _shared_room(site: Site, http: httpx.AsyncClient) -> dict[str, object]:
    alice, bob = site.alice, site.bob
    slug = (await _post(http, "/api/v1/rooms", alice, {"title": "Harbour"}))["slug"]
    invite = await _post(http, f"/api/v1/rooms/{slug}/invites", alice, {"role": "editor"})
    await _post(http, f"/api/v1/invites/{invite['token']}/accept", bob)
    spare = await _post(http, f"/api/v1/rooms/{slug}/invites", alice, {"role": "viewer"})
    return {"slug": slug, "token": spare["token"], "invite_id": spare["invite"]["invite_id"]}


async def _finished_job(site: Site, http: httpx.AsyncClient) -> dict[str, object]:
    job_id = (await _post(http, "/api/v1/jobs", site.alice, JOB))["jobs"][0]["job_id"]

    async def image() -> dict[str, Any] | None:
        job = (await http.get(f"/api/v1/jobs/{job_id}", headers=site.alice.api)).json()
        return job["images"][0] if job["state"] == "succeeded" else None

    done = await eventually(image, timeout=60, interval=0.05, message="the job finished")
    return {"job_id": job_id, "image_id": done["image_id"], "key": done["key"]}


async def _forum(site: Site, http: httpx.AsyncClient) -> dict[str, object]:
    """A thread of alice's in the seeded "general" category with a comment of hers, and a
    category whose slug is the room's, so ``{slug}`` reaches the admin category routes too."""
    thread = {"category": "general", "title": "Harbour lights", "body": "Who has seen them?"}
    thread_id = (await _post(http, "/api/v1/threads", site.alice, thread))["thread_id"]
    comment = {"body": "At dusk, from the pier."}
    comment_id = (await _post(http, f"/api/v1/threads/{thread_id}/comments", site.alice, comment))[
        "comment_id"
    ]
    category = {"slug": site.params["slug"], "name": "Harbours"}
    await _post(http, "/api/v1/admin/categories", site.alice, category)
    return {"thread_id": thread_id, "comment_id": comment_id, "category": "general"}


async def _work(site: Site, http: httpx.AsyncClient) -> dict[str, object]:
    """A published work of alice's made of the finished job's image."""
    work = {"image_ids": [site.params["image_id"]], "title": "Harbour", "status": "published"}
    return {"work_id": (await _post(http, "/api/v1/works", site.alice, work))["work_id"]}


async def _prompt(site: Site, http: httpx.AsyncClient) -> dict[str, object]:
    """A public prompt template of alice's (version 1) and a batch of one job made of it."""
    template = {"title": "Harbour", "body": "a {time=quiet} harbour", "visibility": "public"}
    prompt_id = (await _post(http, "/api/v1/prompts", site.alice, template))["id"]
    batch = {"name": "Harbours", "items": [{"prompt_id": prompt_id, "count": 1}]}
    batch_id = (await _post(http, "/api/v1/prompts/batches", site.alice, batch))["batch_id"]
    # The room gets the template's prompt (the from-room operation saves it back).
    use = {"room": site.params["slug"]}
    await _post(http, f"/api/v1/prompts/{prompt_id}/use", site.alice, use)

    async def finished() -> bool:
        answer = await http.get(f"/api/v1/batches/{batch_id}", headers=site.alice.api)
        return bool(answer.json()["state"] == "finished")

    # Its job changes tables: done before the tests count rows.
    await eventually(finished, timeout=60, interval=0.05, message="the batch finished")
    return {"prompt_id": prompt_id, "version": 1, "batch_id": batch_id}


async def _notification(site: Site, http: httpx.AsyncClient) -> dict[str, object]:
    """Bob follows alice: alice's notification of it."""
    followed = await http.put(f"/api/v1/users/{site.alice.username}/follow", headers=site.bob.api)
    assert followed.status_code in (200, 201, 204), followed.text
    listed = await http.get("/api/v1/notifications", headers=site.alice.api)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert items, listed.text
    return {"notification_id": items[0]["notification_id"]}


async def _moderation(site: Site, http: httpx.AsyncClient) -> dict[str, object]:
    """Bob reports alice's comment (the queue's item), alice (an admin) blocks a term."""
    comment_id = site.params["comment_id"]
    body = {"target_type": "comment", "target_id": comment_id, "reason": "rude"}
    report = await _post(http, "/api/v1/reports", site.bob, body)
    term = await _post(http, "/api/v1/admin/blocklist", site.alice, {"term": "kraken"})
    return {
        "report_id": report["report_id"],
        "target_type": "comment",
        "target_id": comment_id,
        "term_id": term["term_id"],
    }


async def _payment(site: Site, http: httpx.AsyncClient) -> dict[str, object]:
    """A paid offline checkout of alice's (its confirm page, receipt and forms; an admin can
    refund it)."""
    started = await _post(http, "/api/v1/payments/checkout", site.alice, {"item": "pack-500"})
    payment_id = started["payment_id"]
    paid = await http.post(f"/payments/offline/{payment_id}/confirm", headers=site.alice.api)
    assert paid.status_code == 303, paid.text
    return {"payment_id": payment_id}


@pytest.fixture
async def site(live: LiveServer) -> Site:
    scene = Site(live, alice=None, bob=None)  # type: ignore[arg-type]
    scene.alice = await scene.person("alice")
    scene.bob = await scene.person("bob")
    await _make_admin(scene.ctx, scene.alice.user_id)
    async with scene.http() as http:
        token = await _post(http, "/api/v1/me/tokens", scene.alice, {"name": "script"})
        scene.params = {
            "username": scene.alice.username,
            "user_id": scene.bob.user_id,
            "token_id": token["token"]["token_id"],
            "provider": "google",
            **await _shared_room(scene, http),
            **await _finished_job(scene, http),
            "name": "threads-0",  # /sitemaps/{name}.xml: the thread below is in it
            "model_id": JOB["model"],  # the admin's model access routes
        }
        # A room of alice's that the admin's "close any room" routes close (not the shared one).
        spare = await _post(http, "/api/v1/rooms", scene.alice, {"title": "Spare"})
        scene.params["room"] = spare["slug"]
        scene.params.update(await _forum(scene, http))
        scene.params.update(await _work(scene, http))
        scene.params.update(await _prompt(scene, http))
        scene.params.update(await _notification(scene, http))
        scene.params.update(await _moderation(scene, http))
        scene.params.update(await _payment(scene, http))
    return scene
