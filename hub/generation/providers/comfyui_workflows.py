"""ComfyUI workflow templates (API format) and their placeholders.

A template is a ComfyUI "API format" graph in which some input values are placeholder strings
such as ``"$seed"``. Rendering replaces each placeholder *value* with a typed value (an int
stays an int), so a template is plain JSON that an operator can export from ComfyUI ("Save
(API)") and edit by hand. Only whole-string values are placeholders; text that merely contains
a ``$`` is left alone, so prompts can never inject placeholders.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

PLACEHOLDERS = frozenset(
    {
        "$prompt",
        "$negative",
        "$seed",
        "$steps",
        "$width",
        "$height",
        "$denoise",
        "$cfg",
        "$sampler",
        "$scheduler",
        "$checkpoint",
        "$image",
        "$filename_prefix",
    }
)


def _graph(latent_nodes: dict[str, Any], latent: list[Any], denoise: Any) -> dict[str, Any]:
    """The stock checkpoint -> KSampler -> SaveImage graph around the nodes that make the
    latent (``latent`` names their output); txt2img and img2img differ only there."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "$checkpoint"}},
        **latent_nodes,
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "$prompt", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "$negative", "clip": ["4", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": "$seed",
                "steps": "$steps",
                "cfg": "$cfg",
                "sampler_name": "$sampler",
                "scheduler": "$scheduler",
                "denoise": denoise,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": latent,
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {
            "class_type": "SaveImage",
            "inputs": {"filename_prefix": "$filename_prefix", "images": ["8", 0]},
        },
    }


TXT2IMG: dict[str, Any] = _graph(
    {
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": "$width", "height": "$height", "batch_size": 1},
        },
    },
    latent=["5", 0],
    denoise=1.0,
)

IMG2IMG: dict[str, Any] = _graph(
    {
        "10": {"class_type": "LoadImage", "inputs": {"image": "$image"}},
        # Scale the source to the requested size so the output has the size that was asked for.
        "12": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["10", 0],
                "upscale_method": "lanczos",
                "width": "$width",
                "height": "$height",
                "crop": "center",
            },
        },
        "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["12", 0], "vae": ["4", 2]}},
    },
    latent=["11", 0],
    denoise="$denoise",
)


def _placeholders(value: Any, found: set[str]) -> None:
    if isinstance(value, str) and value.startswith("$") and value[1:].isidentifier():
        found.add(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _placeholders(item, found)
    elif isinstance(value, list):
        for item in value:
            _placeholders(item, found)


def check_template(template: Mapping[str, Any], *, img2img: bool) -> None:
    """Fail at configuration time, with a clear message, for a template that cannot work."""
    if not template:
        raise ValueError("A ComfyUI workflow template must not be empty.")
    for node_id, node in template.items():
        if not isinstance(node, Mapping) or "class_type" not in node or "inputs" not in node:
            raise ValueError(
                f"Workflow node {node_id!r} is not in ComfyUI API format "
                "(export it with 'Save (API)')."
            )
    found: set[str] = set()
    _placeholders(template, found)
    unknown = found - PLACEHOLDERS
    if unknown:
        raise ValueError(
            f"Unknown workflow placeholder(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(PLACEHOLDERS))}."
        )
    required = {"$prompt", "$seed"} | ({"$image"} if img2img else set())
    missing = required - found
    if missing:
        raise ValueError(f"The workflow must use the placeholder(s) {', '.join(sorted(missing))}.")


def render(template: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``template`` with every placeholder value replaced."""

    def walk(value: Any) -> Any:
        if isinstance(value, str) and value in values:
            return values[value]
        if isinstance(value, Mapping):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return copy.copy(value)

    return {key: walk(node) for key, node in template.items()}
