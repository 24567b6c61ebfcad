"""The OpenAPI document describes what the server does (issue #8, point 8).

schemathesis generates requests from ``/api/v1/openapi.json`` (boundary values, wrong types,
missing fields, unexpected methods, then fuzzing) and sends them to the ASGI app in-process, on
SQLite, signed in with a bearer token and a session cookie, with rate limits lifted (a 429 would
hide the answer the run is there to check). Every check is on: no 5xx, only documented status
codes, content types, headers and bodies, the ``Allow`` header on 405, auth that is declared is
honoured, deleted things stay deleted, and on the request side the server accepts what the
schemas allow (``positive_data_acceptance``) and refuses what they forbid
(``negative_data_rejection``). The run is seeded and derandomized, so a failure reproduces, and
bounded (under a minute on two cores; the job event stream is read up to its first event).

A few requests the schemas allow are refused by rules JSON Schema cannot state (a cursor the hub
did not make, a guessable password, a file that is not an image, a model this hub does not
serve, what a room's document holds). Each operation lists those under ``x-refusals`` in the
document (docs/api.md); the run takes their statuses as answers to valid data for that operation
only, and :func:`refusals_are_documented` checks that such an answer is one of the listed
refusals (status, error code, field), so nothing else hides behind them. A 402 (not enough
credits) is a state of the account, like 409, not a verdict on the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES
from schemathesis.engine import events, from_schema
from schemathesis.python import asgi
from starlette.applications import Starlette

from hub.app import create_app
from hub.settings import Settings

RATE_LIMITS = (
    "rate_limit_login",
    "rate_limit_login_ip",
    "rate_limit_register",
    "rate_limit_room_create",
    "rate_limit_generate",
    "rate_limit_upload",
)
SEED = 20261204
MAX_EXAMPLES = 20
PASSWORD = "analytical engine 1843"


@pytest.fixture
def served(settings: Settings) -> Iterator[Starlette]:
    # schemathesis runs the app (and its lifespan) on its own event loop thread. Rate limits are
    # lifted: a 429 is a documented answer to anything, so it would hide what the run checks.
    unlimited = {name: "1000000/minute" for name in RATE_LIMITS}
    application = create_app(settings.model_copy(update=unlimited))
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


# Answers to valid data that are states, not verdicts on the request: 402 not enough credits.
ACCEPTED = [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "402"]


def refusals_of(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """operationId -> the operation's ``x-refusals``."""
    return {
        entry["operationId"]: entry["x-refusals"]
        for methods in document["paths"].values()
        for entry in methods.values()
        if "x-refusals" in entry
    }


def per_operation(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Each operation with refusals takes their statuses as answers to valid data."""
    return [
        {
            "include-operation-id": operation_id,
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": sorted(
                        {*ACCEPTED, *(str(refusal["status"]) for refusal in refusals)}
                    )
                }
            },
        }
        for operation_id, refusals in sorted(refusals_of(document).items())
    ]


def is_refusal(refusal: dict[str, Any], status: int, error: dict[str, Any]) -> bool:
    if refusal["status"] != status or refusal["code"] != error.get("code"):
        return False
    field = refusal.get("field")
    if field is None:
        return True
    details = error.get("details") or {}
    if field in details:
        return True
    return any(
        blamed.get("field") == field
        and refusal.get("type", blamed.get("type")) == blamed.get("type")
        for blamed in details.get("fields", [])
    )


@schemathesis.check
def refusals_are_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """Valid data answered with one of its operation's refusal statuses: the answer is one of
    the refusals the document lists (status, code and field), not some other 4xx."""
    refusals = case.operation.definition.raw.get("x-refusals")
    meta = case.meta
    if not refusals or meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code not in {refusal["status"] for refusal in refusals}:
        return None
    error = response.json().get("error", {})
    if not any(is_refusal(refusal, response.status_code, error) for refusal in refusals):
        raise AssertionError(
            f"{response.status_code} {error} is not one of the operation's x-refusals"
        )
    return None


# schemathesis' default answers to invalid data, and 413 for a body over its limit.
REJECTED = [
    "400",
    "401",
    "403",
    "404",
    "405",
    "406",
    "409",
    "413",
    "415",
    "422",
    "428",
    "429",
    "5xx",
]


def config(credentials: dict[str, str], document: dict[str, Any]) -> SchemathesisConfig:
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
                "positive_data_acceptance": {"expected-statuses": ACCEPTED},
                # A body over a documented size limit is refused with 413 (docs/errors.md).
                "negative_data_rejection": {"expected-statuses": REJECTED},
            },
            "operations": [
                *per_operation(document),
                # The job event stream never ends by itself; its hello is the answer to check.
                {"include-operation-id": "jobs_events_get", "max-stream-events": 1},
            ],
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
            error = str(getattr(event, "value", getattr(event, "exception", event)))
            errors.append(f"{getattr(event, 'label', '?')}: {error[:300]}")
    return sorted(set(failures)), errors


@pytest.mark.slow
@pytest.mark.timeout(300)  # about a minute; room for a loaded machine
def test_the_server_does_what_its_openapi_document_says(served: Starlette) -> None:
    credentials = sign_in(served)
    with asgi.get_client(served) as client:  # type: ignore[arg-type]
        document = client.get("/api/v1/openapi.json").json()
    schema = schemathesis.openapi.from_asgi(
        "/api/v1/openapi.json", served, config=config(credentials, document)
    )
    failures, errors = failures_of(from_schema(schema).execute())
    assert errors == []
    assert failures == [], f"{len(failures)} failures:\n" + "\n".join(failures)
