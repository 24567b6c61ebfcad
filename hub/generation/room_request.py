"""A room's document as a job request: its prompt, negative prompt and params, with the caller's
overrides on top (``POST /api/v1/rooms/{slug}/jobs``, via
:func:`hub.generation.submissions.submit_room_job`).

Room documents are edited by browsers and other clients, so every value is checked for shape
here and a refusal names the room setting at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from hub.errors import ValidationFailed
from hub.generation.errors import UnknownModel
from hub.generation.schemas import JobCreateIn, RoomJobIn

_SIZE = re.compile(r"\s*(\d{1,5})\s*[xX\u00d7]\s*(\d{1,5})\s*")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _room_param_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"The room's {name} {message}.",
        fields=[{"field": f"params.{name}", "message": message, "type": "room_param"}],
    )


def _whole(params: Mapping[str, Any], name: str) -> int | None:
    # Yjs numbers from browsers arrive as floats (30.0); other clients may write strings.
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value):
        return int(value)
    raise _room_param_error(name, f"must be a whole number, not {_shown(value)}")


def _fraction(params: Mapping[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _room_param_error(name, f"must be a number, not {_shown(value)}")
    try:
        number = float(value)
    except ValueError:
        raise _room_param_error(name, f"must be a number, not {_shown(value)}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise _room_param_error(name, f"must be a number, not {_shown(value)}")
    return number


def _size(params: Mapping[str, Any]) -> tuple[int | None, int | None]:
    value = params.get("size")
    if value is None or value == "":
        return None, None
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _room_param_error("size", f"must look like 1024x1024, not {_shown(value)}")
    return int(match[1]), int(match[2])


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    return value if isinstance(value, str) else ""


def _model(params: Mapping[str, Any], overrides: RoomJobIn, default_model: str | None) -> str:
    model = overrides.model
    if model is None:
        doc_model = params.get("model")
        if doc_model is not None and not isinstance(doc_model, str):
            raise _room_param_error("model", f"must be a model id, not {_shown(doc_model)}")
        model = (doc_model or "").strip() or default_model
    if model is None:
        raise UnknownModel("No model is available to your account.")
    return model


def _validated(fields: dict[str, Any]) -> JobCreateIn:
    """The request, checked against the job limits; each failure names the room setting."""
    try:
        return JobCreateIn.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(str(part) for part in error["loc"]) or "body",
                "message": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise ValidationFailed(
            f"The room's settings cannot be used: {summary}.", fields=details
        ) from None


def room_job_request(
    document: Mapping[str, Any], overrides: RoomJobIn, *, room_id: str, default_model: str | None
) -> JobCreateIn:
    """The job request a room's document makes, with the caller's overrides on top.

    Raises ValidationFailed (422) with a message naming the room setting at fault: an empty
    prompt, a parameter of the wrong shape, or a value outside the job limits.
    """
    raw_params = document.get("params")
    params: Mapping[str, Any] = raw_params if isinstance(raw_params, Mapping) else {}
    prompt = overrides.prompt if overrides.prompt is not None else _text(document, "prompt")
    if not prompt.strip():
        raise ValidationFailed(
            "The room's prompt is empty: write a prompt first.",
            fields=[{"field": "prompt", "message": "the prompt is empty", "type": "empty_prompt"}],
        )
    negative = overrides.negative_prompt
    if negative is None:
        negative = _text(document, "negative")
    model = _model(params, overrides, default_model)
    width, height = _size(params)
    seed = _first(overrides.seed, _whole(params, "seed"))
    fields: dict[str, Any] = {
        "kind": "img2img" if overrides.source_image_key else "text2img",
        "model": model,
        "prompt": prompt,
        "negative_prompt": negative,
        "width": _first(overrides.width, width),
        "height": _first(overrides.height, height),
        "steps": _first(overrides.steps, _whole(params, "steps")),
        # A negative seed (the page's -1) means "pick one at random".
        "seed": seed if seed is not None and seed >= 0 else None,
        "count": _first(overrides.count, _whole(params, "count"), 1),
        "room_id": room_id,
    }
    if overrides.source_image_key:
        fields["source_image_key"] = overrides.source_image_key
        fields["strength"] = _first(overrides.strength, _fraction(params, "strength"))
    elif overrides.strength is not None:
        raise ValidationFailed(
            "'strength' is for img2img: send 'source_image_key' too.",
            fields=[{"field": "strength", "message": "img2img only", "type": "img2img_only"}],
        )
    return _validated(fields)
