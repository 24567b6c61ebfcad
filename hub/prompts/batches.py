"""A batch from the library: several templates (or several fillings of one), each run a number
of times, submitted as one named batch of the job queue (``hub.generation.batches``).

Each line is a template filled in like "use" fills it (422 naming ``items.N.variables`` for a
missing or unknown variable or a prompt that gets too long) and turned into a text2img request
with the template's parameters; the body's ``model`` wins over the templates'. Each line counts
as one use of its template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.deps import Actor
from hub.errors import ValidationFailed
from hub.generation.batches import BatchRequest, submit_batch
from hub.generation.component import JobWiring
from hub.generation.errors import UnknownModel
from hub.generation.providers.registry import ModelPreset
from hub.generation.schemas import BatchOut, JobCreateIn
from hub.generation.service import default_presets
from hub.prompts.filling import Filled, fill_template
from hub.prompts.schemas import LibraryBatchIn
from hub.prompts.service import access_prompt, count_use


def _first_model(presets: Mapping[str, ModelPreset], actor: Actor) -> str:
    for preset in presets.values():
        if preset.allows(actor.role):
            return preset.id
    raise UnknownModel("No model is available to your account.")


def job_request(filled: Filled, *, model: str, field: str) -> JobCreateIn:
    """The text2img request of a filled template; 422 naming ``field`` when its parameters
    cannot make a job (a size that is not a multiple of 8, say)."""
    params = filled.params
    fields: dict[str, Any] = {
        "kind": "text2img",
        "model": model,
        "prompt": filled.prompt,
        "negative_prompt": filled.negative_prompt,
        "steps": params.get("steps"),
        "count": params.get("count", 1),
    }
    if isinstance(params.get("size"), str):
        width, height = params["size"].split("x")
        fields["width"], fields["height"] = int(width), int(height)
    seed = params.get("seed")
    if isinstance(seed, int) and seed >= 0:
        fields["seed"] = seed  # -1 (or none): each run picks its own
    try:
        return JobCreateIn.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValidationFailed(
            f"The template cannot make a job: {problems}.",
            fields=[{"field": field, "message": problems, "type": "template_params"}],
        ) from None


async def submit_library_batch(
    session: AsyncSession, actor: Actor, *, data: LibraryBatchIn, wiring: JobWiring
) -> BatchOut:
    """Fill each line's template, count its use, and queue the whole batch (all or nothing)."""
    presets = wiring.presets if wiring.presets is not None else default_presets()
    lines: list[BatchRequest] = []
    for index, item in enumerate(data.items):
        row = await access_prompt(session, actor, item.prompt_id)
        filled = fill_template(row, item.variables, field=f"items.{index}.variables")
        model = data.model or filled.params.get("model") or _first_model(presets, actor)
        request = job_request(filled, model=model, field=f"items.{index}")
        lines.append(BatchRequest(request=request, runs=item.count))
        await count_use(session, item.prompt_id)
    return await submit_batch(
        session,
        actor,
        name=data.name,
        lines=lines,
        presets=presets,
        on_event=wiring.on_event,
        signals=wiring.signals,
    )
