"""The prompt library's and the batches' operations do what the OpenAPI document says: the same
schemathesis run as tests/security/test_openapi_conformance.py (every check, seeded, derandomized),
limited to ``/api/v1/prompts``, ``/api/v1/admin/prompts`` and ``/api/v1/batches`` so that it is
quick enough to run with the domain's other tests."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.engine import from_schema
from schemathesis.python import asgi
from starlette.applications import Starlette

from tests.security.test_openapi_conformance import config, failures_of, served, sign_in

__all__ = ["served"]

PATHS = r"^/api/v1/(prompts|admin/prompts|batches)"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_prompt_operations_do_what_the_document_says(served: Starlette) -> None:
    credentials = sign_in(served)
    with asgi.get_client(served) as client:  # type: ignore[arg-type]
        document = client.get("/api/v1/openapi.json").json()
    schema = schemathesis.openapi.from_asgi(
        "/api/v1/openapi.json", served, config=config(credentials, document)
    ).include(path_regex=PATHS)
    failures, errors = failures_of(from_schema(schema).execute())
    assert errors == []
    assert failures == [], f"{len(failures)} failures:\n" + "\n".join(failures)
