"""JSON API conventions: request parsing, response rendering and the OpenAPI document.

Route handlers stay thin: ``body = await parse_body(request, RegisterIn)`` validates the JSON body
against a pydantic model (415/400/422 with the one error shape on bad input) and
``json_response(model)`` renders a pydantic model. ``@operation(...)`` attaches the request/response
schemas to a handler; :func:`openapi_document` walks the routing table and builds a real OpenAPI 3.1
document from those models, so the schema cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from hub.errors import (
    BadRequest,
    CSRFFailed,
    ErrorCode,
    HubError,
    InvalidJSON,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from rooms import jsontext

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


def _validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(fields=_validation_details(exc)) from None


def _json_number(text: str) -> float | int:
    """JSON has one number type: ``4.0`` is the integer 4 (JSON Schema says so too), so a field
    typed ``integer`` takes it even in a strict model. Other numbers stay floats."""
    value = float(text)
    return int(value) if value.is_integer() else value


async def parse_body(request: Request, model: type[M]) -> M:
    """Parse and validate a JSON body. Accepts ``application/json`` (and ``+json``) only."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = await request.body()
    try:
        data = jsontext.loads(raw, parse_float=_json_number) if raw else None
    except jsontext.JSONTooDeep as exc:
        raise InvalidJSON(
            f"The request body nests more than {exc.max_depth} levels deep.",
            max_depth=exc.max_depth,
        ) from None
    except ValueError as exc:
        raise InvalidJSON(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidJSON("The request body must be a JSON object.")
    return validate(model, data)


def parse_query(request: Request, model: type[M]) -> M:
    return validate(model, dict(request.query_params))


def path_int(request: Request, name: str, *, maximum: int) -> int:
    """A numeric path id. Anything but a plain ASCII integer in ``1..maximum`` names nothing, so
    it is a 404 like an unknown id (never a 500 from the database)."""
    raw = str(request.path_params[name])
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or not 0 < int(raw) <= maximum:
        raise NotFound()
    return int(raw)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


def json_response(
    payload: BaseModel | Sequence[BaseModel] | dict[str, Any] | list[Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    if isinstance(payload, BaseModel):
        content: Any = payload.model_dump(mode="json")
    elif isinstance(payload, list | tuple) and payload and isinstance(payload[0], BaseModel):
        content = [item.model_dump(mode="json") for item in payload]  # type: ignore[union-attr]
    else:
        content = payload
    return JSONResponse(content, status_code=status, headers=headers)


@dataclass(frozen=True)
class Refusal:
    """A request its schema allows that the server refuses all the same, by a rule JSON Schema
    cannot state: the state of the hub (a room's prompt, the models it serves), a rule over a
    list (guessable passwords), or content the hub alone can read (its cursors, image files).

    The OpenAPI document lists them under the operation's ``x-refusals`` (docs/api.md): the
    status, the error code and, when set, ``field``: what the error's ``details`` name (a
    ``details.fields[].field`` of a 422, else a key of ``details``) and ``kind``, that field's
    ``details.fields[].type``."""

    status: int
    code: ErrorCode
    why: str
    field: str | None = None
    kind: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {"status": self.status, "code": self.code.value, "why": self.why}
        if self.field is not None:
            found["field"] = self.field
        if self.kind is not None:
            found["type"] = self.kind
        return found


CURSOR_REFUSAL = Refusal(400, ErrorCode.bad_request, "A cursor the hub did not make.")


@dataclass(frozen=True)
class Operation:
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    query: type[BaseModel] | None = None
    auth: bool = False
    errors: tuple[type[HubError], ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    request_content_type: str = "application/json"
    extra_responses: dict[str, Any] = field(default_factory=dict)
    # Which credentials the operation takes when ``auth`` is set (the OpenAPI security schemes).
    schemes: tuple[str, ...] = ("bearer", "session")
    refuses: tuple[Refusal, ...] = ()


def operation(
    summary: str,
    *,
    request: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    query: type[BaseModel] | None = None,
    auth: bool = False,
    errors: tuple[type[HubError], ...] = (),
    tags: tuple[str, ...] = (),
    request_content_type: str = "application/json",
    schemes: tuple[str, ...] = ("bearer", "session"),
    refuses: tuple[Refusal, ...] = (),
) -> Callable[[F], F]:
    """Describe a handler for the OpenAPI document (documentation only; no behaviour).

    ``errors`` lists the operation's own failures; the ones every operation of its kind can give
    are added by :func:`openapi_document` (see :func:`common_errors`). ``refuses`` lists the
    schema-valid requests it refuses by rules the schemas cannot state (:class:`Refusal`)."""

    def decorate(fn: F) -> F:
        fn.__openapi__ = Operation(  # type: ignore[attr-defined]
            summary=summary,
            request=request,
            response=response,
            status=status,
            query=query,
            auth=auth,
            errors=errors,
            tags=tags,
            description=(fn.__doc__ or "").strip(),
            request_content_type=request_content_type,
            schemes=schemes,
            refuses=refuses,
        )
        return fn

    return decorate


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def _walk(routes: Sequence[BaseRoute], prefix: str = "") -> list[tuple[str, Route]]:
    found: list[tuple[str, Route]] = []
    for route in routes:
        if isinstance(route, Mount):
            found.extend(_walk(route.routes, prefix + route.path))
        elif isinstance(route, Route):
            found.append((prefix + route.path, route))
    return found


def _path_params(path: str) -> list[dict[str, Any]]:
    params = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1].split(":")[0]
            params.append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            )
    return params


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def common_errors(op: Operation, method: str, path: str) -> tuple[type[HubError], ...]:
    """The failures every operation of a kind can give, whatever its handler does.

    A body: not JSON or too deep (400), too large (413), not its media type (415), invalid (422).
    A query: a mangled cursor (400), invalid parameters (422). A path parameter: 404 for ids that
    name nothing. Credentials: 401 when missing or bad, and 403 for a cookie-authenticated unsafe
    request without its CSRF token.
    """
    found: list[type[HubError]] = []
    if op.request is not None:
        found += [InvalidJSON, PayloadTooLarge, UnsupportedMediaType, ValidationFailed]
    if op.query is not None:
        found += [BadRequest, ValidationFailed]
    if "{" in path:
        found.append(NotFound)
    if op.auth:
        found.append(Unauthenticated)
        if method in UNSAFE_METHODS and "session" in op.schemes:
            found.append(CSRFFailed)
    return tuple(found)


Ref = Callable[[type[BaseModel]], dict[str, Any]]


def _parameters(path: str, op: Operation) -> list[dict[str, Any]]:
    params = _path_params(path)
    if op.query is not None:
        qschema = op.query.model_json_schema()
        required = set(qschema.get("required", []))
        for name, prop in qschema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return params


def _responses(op: Operation, method: str, path: str, ref: Ref, error_ref: dict[str, Any]) -> Any:
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": ref(op.response)}}
    responses: dict[str, Any] = {str(op.status): ok}
    statuses: dict[int, type[HubError]] = {}
    for cls in (*op.errors, *common_errors(op, method, path)):
        statuses.setdefault(cls.status, cls)
    for status, cls in sorted(statuses.items()):
        responses[str(status)] = {
            "description": cls.default_message,
            "content": {"application/json": {"schema": error_ref}},
        }
    return responses


def _operation_entry(
    op: Operation, name: str | None, method: str, path: str, ref: Ref, error_ref: dict[str, Any]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{name}_{method.lower()}",
        "tags": list(op.tags),
        "responses": {},
    }
    if op.description:
        entry["description"] = op.description
    params = _parameters(path, op)
    if params:
        entry["parameters"] = params
    if op.request is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {op.request_content_type: {"schema": ref(op.request)}},
        }
    entry["responses"] = _responses(op, method, path, ref, error_ref)
    if op.auth:
        entry["security"] = [{scheme: []} for scheme in op.schemes]
    refusals = list(op.refuses)
    if op.query is not None and "cursor" in op.query.model_fields:
        refusals.append(CURSOR_REFUSAL)
    if refusals:
        entry["x-refusals"] = [refusal.as_dict() for refusal in refusals]
    return entry


def openapi_document(routes: Sequence[BaseRoute], *, title: str, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            components[name] = sub
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error_ref = ref(ErrorEnvelope)
    paths: dict[str, Any] = {}
    for path, route in _walk(routes):
        op: Operation | None = getattr(route.endpoint, "__openapi__", None)
        if op is None or not path.startswith("/api/"):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            entry = _operation_entry(op, route.name, method, path, ref, error_ref)
            paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Errors always use the shape "
            '{"error": {"code", "message", "details?"}}; codes: '
            + ", ".join(c.value for c in ErrorCode),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "hub_session"},
            },
        },
    }
