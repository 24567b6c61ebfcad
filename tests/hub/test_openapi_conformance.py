"""The OpenAPI document describes what the server does (issue #8, point 8).

schemathesis generates requests from ``/api/v1/openapi.json`` (boundary values, wrong types,
missing fields, unexpected methods, then fuzzing) and sends them to the ASGI app in-process, on
SQLite, signed in with a bearer token and a session cookie. Its checks must pass: no 5xx, only
documented status codes, content types, headers and bodies, the ``Allow`` header on 405, auth
that is declared is honoured, deleted things stay deleted. The run is seeded and derandomized, so
a failure reproduces, and bounded (about a minute on two cores).

Two request-side checks are still off; the server refuses some requests the schema allows and
accepts a few it forbids. REQUEST_RULES_LEFT lists them, to be stated in the schemas (or relaxed
in the server) before those checks are turned on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.python import asgi
from starlette.applications import Starlette

from hub.app import create_app
from hub.settings import Settings

REQUEST_RULES_LEFT = {
    "opaque cursors": "any string is schema-valid; a cursor the hub did not make is 400",
    "text rules": "titles, names, display names: no control/invisible characters (Unicode C*)",
    "passwords": "a too-guessable password is 422 weak_password",
    "emails": "the address must be deliverable-looking (email-validator)",
    "uploads": "the file must be a PNG, JPEG or WEBP image",
    "image ids": "POST /api/v1/images/download ids are non-empty",
    "ranges": "since < until on the ledger and images; a credit adjustment is not 0",
    "room patch": "PATCH /api/v1/rooms/{slug}: title/visibility/payer null is 422",
    "lax types": "POST /api/v1/rooms takes 0/1 for booleans; ?until=0.5 parses as a time",
}
SEED = 20261204
MAX_EXAMPLES = 6
PASSWORD = "analytical engine 1843"


@pytest.fixture
def served(settings: Settings) -> Iterator[Starlette]:
    # schemathesis runs the app (and its lifespan) on its own event loop thread.
    application = create_app(settings)
    try:
        yield application
    finally:
        asgi.shutdown_lifespans()


def sign_in(application: Starlette) -> dict[str, str]:
    with asgi.get_client(application) as client:  # type: ignore[arg-type]
        origin = {"origin": "http://testserver"}
        body = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
        registered = client.post("/api/v1/auth/register", json=body, headers=origin)
        assert registered.status_code == 201, registered.text
        session = registered.cookies.get("hub_session")
        assert session
        token = client.post("/api/v1/auth/token", json={"login": "ada", "password": PASSWORD})
        assert token.status_code == 200, token.text
        return {"bearer": token.json()["access_token"], "session": session}


def config(credentials: dict[str, str]) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "cache": {"enabled": False},  # the same run every time, no state in the tree
            "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {
                "enabled": True,
                # Not yet: request rules JSON Schema does not state (see REQUEST_RULES_LEFT).
                "positive_data_acceptance": {"enabled": False},
                "negative_data_rejection": {"enabled": False},
            },
            "auth": {
                "openapi": {
                    "bearer": {"bearer": credentials["bearer"]},
                    "session": {"api_key": credentials["session"]},
                }
            },
        }
    )


def failures_of(stream: Any) -> tuple[list[str], list[str]]:
    failures: list[str] = []
    errors: list[str] = []
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(
                            f"{event.recorder.label}: {failure.code} {failure.title}: "
                            f"{failure.message}\n    {check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(str(getattr(event, "value", getattr(event, "exception", event))))
    return sorted(set(failures)), errors


@pytest.mark.slow
def test_the_server_does_what_its_openapi_document_says(served: Starlette) -> None:
    credentials = sign_in(served)
    schema = schemathesis.openapi.from_asgi(
        "/api/v1/openapi.json", served, config=config(credentials)
    )
    failures, errors = failures_of(from_schema(schema).execute())
    assert errors == []
    assert failures == [], f"{len(failures)} failures:\n" + "\n".join(failures)
