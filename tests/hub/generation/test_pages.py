"""The ``/jobs`` and ``/batches`` pages through HTTP: sign-in, empty states, the jobs with their
state and parameters, filters, "Run again" as a form (CSRF-checked), the batches' progress and
bad query parameters."""

from __future__ import annotations

import re

import httpx

from hub.db import Database
from tests.helpers import BOTH_DATABASES
from tests.hub.accounts.helpers import signed_up
from tests.hub.generation.test_routes import JOBS, job_count, text2img

HTML = {"accept": "text/html"}


def _job_ids(page: str) -> list[str]:
    return re.findall(r'data-job-id="([^"]+)"', page)


async def test_pages_send_visitors_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/jobs", "/batches"):
        response = await client.get(path, headers=HTML)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"


async def test_empty_states(client: httpx.AsyncClient) -> None:
    await signed_up(client, "alice")
    jobs = await client.get("/jobs", headers=HTML)
    assert jobs.status_code == 200
    assert "No jobs yet" in jobs.text
    assert 'href="/studio"' in jobs.text
    filtered = await client.get("/jobs?state=failed", headers=HTML)
    assert "No jobs match." in filtered.text
    batches = await client.get("/batches", headers=HTML)
    assert batches.status_code == 200
    assert "No batches yet" in batches.text


@BOTH_DATABASES
async def test_jobs_list_then_run_again_from_the_form(
    client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await signed_up(client, "alice")
    headers = {"x-csrf-token": csrf}
    body = text2img(prompt="a red kite", width=256, height=128, steps=3, seed=9)
    created = await client.post(JOBS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    job_id = created.json()["jobs"][0]["job_id"]

    page = await client.get("/jobs", headers=HTML)
    assert _job_ids(page.text) == [job_id]
    assert "a red kite" in page.text
    assert "256\u00d7128" in page.text
    assert "seed 9" in page.text
    assert 'data-state="queued"' in page.text
    assert f'action="/jobs/{job_id}/rerun"' in page.text
    assert f'name="csrf_token" value="{csrf}"' in page.text

    refused = await client.post(f"/jobs/{job_id}/rerun", data={})
    assert refused.status_code == 403
    assert await job_count(db) == 1
    again = await client.post(f"/jobs/{job_id}/rerun", data={"csrf_token": csrf})
    assert again.status_code == 303, again.text
    location = again.headers["location"]
    assert location.startswith("/jobs?rerun=")
    new_id = location.removeprefix("/jobs?rerun=")
    shown = await client.get(location, headers=HTML)
    assert _job_ids(shown.text) == [new_id, job_id]
    assert 'id="rerun-notice"' in shown.text
    assert shown.text.count("seed 9") == 2
    assert await job_count(db) == 2
    assert _job_ids((await client.get("/jobs?state=succeeded", headers=HTML)).text) == []
    assert len(_job_ids((await client.get("/jobs?state=queued", headers=HTML)).text)) == 2


async def test_rerun_form_of_someone_elses_job_is_404(
    app: object, client: httpx.AsyncClient, db: Database
) -> None:
    csrf = await signed_up(client, "alice")
    created = await client.post(JOBS, json=text2img(), headers={"x-csrf-token": csrf})
    job_id = created.json()["jobs"][0]["job_id"]
    client.cookies.clear()
    bob_csrf = await signed_up(client, "bob")
    for target in (job_id, "nope"):
        answer = await client.post(f"/jobs/{target}/rerun", data={"csrf_token": bob_csrf})
        assert answer.status_code == 404
    assert await job_count(db) == 1


async def test_bad_query_parameters_are_refused(client: httpx.AsyncClient) -> None:
    await signed_up(client, "alice")
    for path in (
        "/jobs?state=bogus",
        "/jobs?batch_id=%00",
        "/jobs?cursor=junk",
        "/batches?cursor=junk",
    ):
        response = await client.get(path, headers=HTML)
        assert response.status_code in (400, 422), (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html")


@BOTH_DATABASES
async def test_batches_show_progress_and_link_to_their_jobs(client: httpx.AsyncClient) -> None:
    csrf = await signed_up(client, "alice")
    body = {"kind": "batch", "model": "offline-sketch", "prompts": ["a fox", "an owl"]}
    created = await client.post(JOBS, json=body, headers={"x-csrf-token": csrf})
    assert created.status_code == 201, created.text
    batch_id = created.json()["batch_id"]
    page = await client.get("/batches", headers=HTML)
    assert page.status_code == 200
    assert f'data-batch-id="{batch_id}"' in page.text
    assert 'data-state="active"' in page.text
    assert 'value="0"' in page.text
    assert "jobs 2" in page.text
    assert f'href="/jobs?batch_id={batch_id}"' in page.text
    jobs = await client.get(f"/jobs?batch_id={batch_id}", headers=HTML)
    assert len(_job_ids(jobs.text)) == 2
    assert "Jobs of batch" in jobs.text
