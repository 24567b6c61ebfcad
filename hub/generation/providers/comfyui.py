"""A client for a ComfyUI server's own HTTP + WebSocket API.

Flow for one image: open ``/ws?clientId=<id>`` first (so no event is missed), upload the
img2img source with ``/upload/image``, ``POST /prompt {"prompt": graph, "client_id": id}``, follow
the socket (``progress {value, max}``, binary preview frames, and ``executing {node: null}`` or
``execution_success`` = done; ``execution_error`` / ``execution_interrupted`` = failed), then read
``/history/{prompt_id}`` and download each file with ``/view``. ``count`` images are queued one
after the other with seeds seed, seed+1, ... so every image keeps its own seed.

Things that bite (seen on a real 0.3.x server): without ``client_id`` there is no done signal;
``/interrupt`` without a prompt id stops whatever runs, anyone's job; a deleted queued prompt
produces no event at all; an identical graph is answered from cache with the *old* file. We
therefore use a fresh client id per job, always send the prompt id to ``/interrupt`` (and only
when the queue says our prompt is running), stop waiting ourselves after deleting a queued
prompt, and give every job its own ``filename_prefix`` so SaveImage writes a new file while the
seed keeps its meaning (same seed, same picture).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from rooms import jsontext

from . import comfyui_workflows as workflows
from ._common import (
    HttpResult,
    JobTracker,
    check_http_url,
    check_output_image,
    error_payload,
    inspect_image,
    parse_json_object,
    send,
    source_image_info,
    status_error,
)
from .base import (
    BadResponse,
    Canceled,
    GeneratedImage,
    GenerationFailed,
    GenerationRequest,
    Progress,
    ProgressCallback,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RequestRejected,
    validate_request,
)

log = logging.getLogger(__name__)

PREVIEW_IMAGE = 1  # [u32 type][u32 format: 1 JPEG, 2 PNG][image]
PREVIEW_IMAGE_WITH_METADATA = 4  # [u32 type][u32 meta length][meta JSON][image]
LABEL = "ComfyUI"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ComfyUIConfig:
    base_url: str = "http://127.0.0.1:8188"
    checkpoint: str = "v1-5-pruned-emaonly.safetensors"
    sampler_name: str = "euler"
    scheduler: str = "normal"
    cfg: float = 7.0
    # Custom graphs in API format with $placeholders; None = the built-in ones.
    txt2img_workflow: Mapping[str, Any] | None = None
    img2img_workflow: Mapping[str, Any] | None = None
    filename_prefix: str = "hub"  # may contain a subfolder: "hub/renders"
    timeout: float = 600.0  # a whole job, queue wait included
    request_timeout: float = 30.0  # each HTTP call
    history_timeout: float = 10.0  # wait for /history after the done signal
    max_preview_bytes: int = 2 * 1024 * 1024
    max_ws_message_bytes: int = 8 * 1024 * 1024
    reconnect_attempts: int = 3
    reconnect_delay: float = 0.5
    # A step is reported once, with its preview: the preview frame follows the step's progress
    # message, so the report waits for it this long at most (no --preview-method: no previews).
    preview_wait: float = 0.5
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. auth for a reverse proxy

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", check_http_url(self.base_url, "ComfyUI URL"))
        for name in ("timeout", "request_timeout", "history_timeout", "preview_wait"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive.")
        if self.txt2img_workflow is not None:
            workflows.check_template(self.txt2img_workflow, img2img=False)
        if self.img2img_workflow is not None:
            workflows.check_template(self.img2img_workflow, img2img=True)


def parse_preview(frame: bytes) -> tuple[bytes, str | None] | None:
    """Split a binary WebSocket frame into (image bytes, prompt id if the frame names one)."""
    if len(frame) < 8:
        return None
    event = int.from_bytes(frame[:4], "big")
    if event == PREVIEW_IMAGE:
        return frame[8:], None
    if event == PREVIEW_IMAGE_WITH_METADATA:
        length = int.from_bytes(frame[4:8], "big")
        if 8 + length > len(frame):
            return None
        try:
            meta = jsontext.loads(frame[8 : 8 + length])
        except ValueError:
            return None
        prompt_id = meta.get("prompt_id") if isinstance(meta, dict) else None
        return frame[8 + length :], prompt_id if isinstance(prompt_id, str) else None
    return None  # text frames (type 3) and unencoded previews are of no use here


@dataclass
class _JobState:
    prompt_id: str = ""


class _Reconnected:
    """Marker returned by the event stream after it had to reconnect."""


RECONNECTED = _Reconnected()


class _EventStream:
    """The job's WebSocket; it reconnects (same client id) when the connection drops."""

    def __init__(self, url: str, config: ComfyUIConfig) -> None:
        self._url = url
        self._config = config
        self._ws: ClientConnection | None = None

    async def _connect(self) -> ClientConnection:
        try:
            return await connect(
                self._url,
                additional_headers=dict(self._config.headers),
                max_size=self._config.max_ws_message_bytes,
                open_timeout=self._config.request_timeout,
                compression=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise ProviderUnavailable(
                "ComfyUI cannot be reached right now.", detail=repr(exc)
            ) from exc

    async def __aenter__(self) -> _EventStream:
        self._ws = await self._connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def recv(self, within: float | None = None) -> str | bytes | _Reconnected | None:
        """The next frame; None when ``within`` seconds pass without one."""
        if self._ws is None:
            raise RuntimeError("_EventStream must be used with 'async with'.")
        try:
            async with asyncio.timeout(within):
                return await self._ws.recv()  # cancelling recv loses no frame
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            error: ProviderError | None = None
            for _ in range(self._config.reconnect_attempts):
                await asyncio.sleep(self._config.reconnect_delay)
                try:
                    self._ws = await self._connect()
                except ProviderUnavailable as exc:
                    error = exc
                    continue
                return RECONNECTED
            raise ProviderUnavailable(
                "The connection to ComfyUI was lost.",
                detail=repr(error.detail if error else closed),
            ) from closed


class ComfyUIProvider:
    name = "comfyui"

    def __init__(
        self, config: ComfyUIConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self._client = httpx.AsyncClient(
            base_url=config.base_url,
            headers=dict(config.headers),
            timeout=httpx.Timeout(config.request_timeout),
            transport=transport,
            follow_redirects=False,
        )
        self._jobs = JobTracker()
        scheme = "wss" if config.base_url.startswith("https") else "ws"
        self._ws_base = scheme + config.base_url[config.base_url.index(":") :]

    # --- Provider ----------------------------------------------------------------------------

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedImage]:
        validate_request(request, max_side=4096)
        source_mime = None
        if request.source_image is not None:
            source_mime = (await source_image_info(request.source_image)).mime
        return await self._jobs.run(request.job_id, self._run(request, source_mime, progress))

    async def cancel(self, job_id: str) -> None:
        # The job's own task removes or interrupts its prompt while it unwinds (see _run).
        await self._jobs.cancel_and_wait(job_id, grace=self.config.request_timeout * 3)

    async def aclose(self) -> None:
        await self._jobs.cancel_all()
        await self._client.aclose()

    # --- one job -----------------------------------------------------------------------------

    async def _run(
        self, request: GenerationRequest, source_mime: str | None, progress: ProgressCallback
    ) -> list[GeneratedImage]:
        state = _JobState()
        try:
            async with asyncio.timeout(self.config.timeout):
                try:
                    return await self._run_prompts(request, source_mime, progress, state)
                except BaseException:
                    # Canceled, timed out, shut down, or our side failed (a progress callback
                    # raised, the socket died): never leave the GPU working for nobody. For a
                    # prompt that already ended this is a harmless no-op.
                    if state.prompt_id:
                        await self._cancel_remote(state.prompt_id)
                    raise
        except TimeoutError:
            raise ProviderTimeout(
                f"ComfyUI did not finish within {self.config.timeout:g} seconds."
            ) from None

    async def _run_prompts(
        self,
        request: GenerationRequest,
        source_mime: str | None,
        progress: ProgressCallback,
        state: _JobState,
    ) -> list[GeneratedImage]:
        client_id = uuid.uuid4().hex
        # The prefix is a path on the ComfyUI host: keep it to safe characters.
        tag = _UNSAFE_FILENAME.sub("-", request.job_id)[:80] or client_id
        prefix = f"{self.config.filename_prefix}_{tag}"
        async with _EventStream(f"{self._ws_base}/ws?clientId={client_id}", self.config) as events:
            image_name = None
            if request.source_image is not None and source_mime is not None:
                image_name = await self._upload(request.source_image, source_mime)
            images: list[GeneratedImage] = []
            for index in range(request.count):
                seed = request.seed + index
                graph = self._graph(request, seed, image_name, f"{prefix}_{index}")
                state.prompt_id = await self._queue_prompt(graph, client_id, state)
                await self._follow(events, state.prompt_id, request, index, progress)
                data = await self._result(state.prompt_id)
                state.prompt_id = ""
                info = await check_output_image(data, LABEL)
                images.append(GeneratedImage(data, info.mime, info.width, info.height, seed))
            return images

    def _graph(
        self, request: GenerationRequest, seed: int, image_name: str | None, prefix: str
    ) -> dict[str, Any]:
        cfg = self.config
        if image_name is None:
            template = cfg.txt2img_workflow or workflows.TXT2IMG
        else:
            template = cfg.img2img_workflow or workflows.IMG2IMG
        values: dict[str, Any] = {
            "$prompt": request.prompt,
            "$negative": request.negative_prompt,
            "$seed": seed,
            "$steps": request.steps,
            "$width": request.width,
            "$height": request.height,
            "$denoise": float(request.strength) if image_name is not None else 1.0,
            "$cfg": cfg.cfg,
            "$sampler": cfg.sampler_name,
            "$scheduler": cfg.scheduler,
            "$checkpoint": request.model or cfg.checkpoint,
            "$image": image_name or "",
            "$filename_prefix": prefix,
        }
        return workflows.render(template, values)

    # --- HTTP calls --------------------------------------------------------------------------

    async def _upload(self, data: bytes, mime: str) -> str:
        # Content-addressed name: re-uploading the same source overwrites an identical file.
        name = f"hub-{hashlib.sha256(data).hexdigest()[:24]}.{mime.split('/')[1]}"
        result = await send(
            self._client,
            "POST",
            "/upload/image",
            LABEL,
            files={"image": (name, data, mime)},
            data={"type": "input", "overwrite": "true"},
        )
        if result.status != 200:
            raise self._error(result)
        body = parse_json_object(result, LABEL)
        uploaded = body.get("name")
        if not isinstance(uploaded, str) or not uploaded:
            raise BadResponse("ComfyUI did not accept the source image.", detail=str(body)[:300])
        subfolder = body.get("subfolder")
        return f"{subfolder}/{uploaded}" if isinstance(subfolder, str) and subfolder else uploaded

    async def _post_prompt(self, graph: dict[str, Any], client_id: str) -> str:
        result = await send(
            self._client, "POST", "/prompt", LABEL, json={"prompt": graph, "client_id": client_id}
        )
        if result.status != 200:
            raise self._error(result)
        body = parse_json_object(result, LABEL)
        prompt_id = body.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise BadResponse("ComfyUI did not return a prompt id.", detail=str(body)[:300])
        return prompt_id

    async def _queue_prompt(self, graph: dict[str, Any], client_id: str, state: _JobState) -> str:
        post = asyncio.ensure_future(self._post_prompt(graph, client_id))
        try:
            return await asyncio.shield(post)
        except asyncio.CancelledError:
            # The server may have queued it already: learn its id so _run can remove it.
            with contextlib.suppress(ProviderError, TimeoutError):
                state.prompt_id = await asyncio.wait_for(post, self.config.request_timeout)
            raise

    async def _cancel_remote(self, prompt_id: str) -> None:
        """Remove a queued prompt, or interrupt it (by id) if it is already running."""
        try:
            async with asyncio.timeout(self.config.request_timeout):
                await send(self._client, "POST", "/queue", LABEL, json={"delete": [prompt_id]})
                # Deleting first closes the race: after it, the prompt is running or gone.
                result = await send(self._client, "GET", "/queue", LABEL)
                body = parse_json_object(result, LABEL) if result.status == 200 else {}
                running = body.get("queue_running")
                ids = [
                    item[1]
                    for item in (running if isinstance(running, list) else [])
                    if isinstance(item, list) and len(item) > 1
                ]
                if prompt_id in ids:
                    await send(
                        self._client, "POST", "/interrupt", LABEL, json={"prompt_id": prompt_id}
                    )
        except (ProviderError, TimeoutError) as exc:
            log.warning("could not cancel ComfyUI prompt %s: %r", prompt_id, exc)

    async def _history(self, prompt_id: str) -> dict[str, Any] | None:
        result = await send(self._client, "GET", f"/history/{prompt_id}", LABEL)
        if result.status != 200:
            raise self._error(result)
        entry = parse_json_object(result, LABEL).get(prompt_id)
        return entry if isinstance(entry, dict) else None

    async def _result(self, prompt_id: str) -> bytes:
        # The done signal can overtake the history write on the server: poll briefly.
        delay = 0.02
        deadline = asyncio.get_running_loop().time() + self.config.history_timeout
        entry = await self._history(prompt_id)
        while entry is None:
            if asyncio.get_running_loop().time() > deadline:
                raise BadResponse("ComfyUI reported the job done but has no record of its result.")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
            entry = await self._history(prompt_id)
        self._raise_for_status(entry)
        files = self._output_files(entry)
        if not files:
            raise BadResponse("ComfyUI finished but produced no image.", detail=str(entry)[:300])
        params = files[0]
        result = await send(self._client, "GET", "/view", LABEL, params=params)
        if result.status != 200:
            raise self._error(result)
        return result.body

    @staticmethod
    def _raise_for_status(entry: Mapping[str, Any]) -> None:
        status = entry.get("status")
        if isinstance(status, dict) and status.get("status_str") == "error":
            for item in status.get("messages") or ():
                if isinstance(item, list) and len(item) == 2 and item[0] == "execution_error":
                    raise _execution_error(item[1] if isinstance(item[1], dict) else {})
            raise GenerationFailed("The ComfyUI workflow failed while running.")

    @staticmethod
    def _output_files(entry: Mapping[str, Any]) -> list[dict[str, str]]:
        outputs = entry.get("outputs")
        found: list[dict[str, str]] = []
        if not isinstance(outputs, dict):
            return found
        for node_id in sorted(outputs, key=str):
            images = outputs[node_id].get("images") if isinstance(outputs[node_id], dict) else None
            for image in images if isinstance(images, list) else ():
                if isinstance(image, dict) and isinstance(image.get("filename"), str):
                    found.append(
                        {
                            "filename": image["filename"],
                            "subfolder": str(image.get("subfolder", "")),
                            "type": str(image.get("type", "output")),
                        }
                    )
        # Saved outputs first; "temp" files come from PreviewImage nodes.
        return sorted(found, key=lambda f: f["type"] != "output")

    def _error(self, result: HttpResult) -> ProviderError:
        _error, message = error_payload(result)
        detail = f"HTTP {result.status}: {message}"
        if result.status == 400:
            # ComfyUI's reasons go into the message: ComfyUI is the operator's own server,
            # and "ckpt_name: 'x' not in [...]" is what the operator needs to see on the job.
            words = "; ".join([message, *_node_problems(result)])
            return RequestRejected(
                f"ComfyUI rejected the workflow (an administrator must check the model and "
                f"workflow settings): {_clip(words)}",
                detail=words[:2000],
            )
        return status_error(result, LABEL, detail)

    # --- events ------------------------------------------------------------------------------

    async def _follow(
        self,
        events: _EventStream,
        prompt_id: str,
        request: GenerationRequest,
        index: int,
        progress: ProgressCallback,
    ) -> None:
        """Relay progress and previews until ``prompt_id`` is done; raise if it failed."""
        steps = _StepReporter(request, index, progress)
        running = False
        while True:
            wait = self.config.preview_wait if steps.held else None
            frame = await events.recv(within=wait)
            if frame is None:
                await steps.flush()  # no preview came for this step
                continue
            if isinstance(frame, _Reconnected):
                # Events sent while we were away are lost: the history tells if it finished.
                if await self._history(prompt_id) is not None:
                    await steps.flush()
                    return
                continue
            if isinstance(frame, bytes):
                preview = parse_preview(frame)
                if preview is None or not running or preview[1] not in (None, prompt_id):
                    continue
                if len(preview[0]) > self.config.max_preview_bytes or not _is_image(preview[0]):
                    continue
                await steps.preview(preview[0])
                continue
            try:
                message = jsontext.loads(frame)
            except ValueError:
                continue
            if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
                continue
            kind, data = message.get("type"), message["data"]
            if data.get("prompt_id", prompt_id) != prompt_id:
                continue  # another client's prompt (events without a client are broadcast)
            if kind in ("execution_start", "execution_cached"):
                running = True
            elif kind == "executing":
                if data.get("node") is None:
                    if running or data.get("prompt_id") == prompt_id:
                        await steps.flush()
                        return
                else:
                    running = True
            elif kind == "execution_success":
                await steps.flush()
                return
            elif kind == "progress" and running:
                value, maximum = data.get("value"), data.get("max")
                if isinstance(value, int) and isinstance(maximum, int) and maximum > 0:
                    await steps.step(value, maximum)
            elif kind == "execution_error":
                raise _execution_error(data)
            elif kind == "execution_interrupted":
                raise Canceled("The generation was interrupted on the ComfyUI server.")


class _StepReporter:
    """One progress report per step, carrying the step's preview when one comes.

    ComfyUI sends a step's ``progress`` message and then, if it was started with
    ``--preview-method``, that step's binary preview frame. The report of a step is therefore
    held until its preview arrives, the next step begins, the prompt ends, or
    ``ComfyUIConfig.preview_wait`` passes (the caller calls :meth:`flush`).
    """

    def __init__(self, request: GenerationRequest, index: int, progress: ProgressCallback) -> None:
        self._steps = request.steps
        self._total = request.steps * request.count
        self._base = index * request.steps
        self._reported = self._base
        self._progress = progress
        self.held: int | None = None  # a step not reported yet

    async def step(self, value: int, maximum: int) -> None:
        # Several samplers may each count 0..max: keep the bar monotonic.
        scaled = self._base + min(self._steps, round(value / maximum * self._steps))
        if scaled > (self.held if self.held is not None else self._reported):
            await self.flush()
            self.held = scaled

    async def preview(self, image: bytes) -> None:
        if self.held is not None:  # else its step was reported already: one report per step
            await self._report(self.held, image)

    async def flush(self) -> None:
        if self.held is not None:
            await self._report(self.held, None)

    async def _report(self, step: int, image: bytes | None) -> None:
        self.held = None
        self._reported = step
        await self._progress(Progress(step, self._total, image))


MAX_REASON_CHARS = 600  # of ComfyUI's words in a message (the job's error holds 1000)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _node_problems(result: HttpResult) -> list[str]:
    """``class_type: message: details`` for each error of a ``POST /prompt`` 400's node_errors."""
    try:
        node_errors = result.json().get("node_errors") or {}
    except (ValueError, AttributeError):
        return []
    problems = []
    for node_id, node in node_errors.items() if isinstance(node_errors, dict) else ():
        if not isinstance(node, dict):
            continue
        for error in node.get("errors") or ():
            if isinstance(error, dict):
                words = [str(error.get(k) or "") for k in ("message", "details")]
                text = ": ".join(w for w in words if w)
                problems.append(f"{node.get('class_type', node_id)}: {text}")
    return problems


def _execution_error(data: Mapping[str, Any]) -> GenerationFailed:
    """An ``execution_error`` (socket message or history entry) as the job's failure."""
    node = data.get("node_type") or data.get("node_id") or "?"
    exception = str(data.get("exception_type", ""))
    words = f"{exception}: {data.get('exception_message', '')}".strip(": ")
    return GenerationFailed(
        f"The ComfyUI workflow failed in node {node}: {_clip(words)}",
        # Out of GPU memory often passes once the other jobs have finished.
        retryable="OutOfMemory" in exception,
        detail=words[:2000],
    )


def _is_image(data: bytes) -> bool:
    try:
        inspect_image(data, decode=False)
    except ValueError:
        return False
    return True
