"""A small fake ComfyUI server: the real HTTP + WebSocket API shapes, a queue, a fake sampler.

It follows what a real 0.3.x server was seen to do (docs/providers.md): ``status`` on
connect, then per prompt ``execution_start`` → ``execution_cached`` → ``executing {node}`` /
``progress {value, max, prompt_id, node}`` with binary preview frames (types 1 and 4) →
``executed`` → ``execution_success`` → ``executing {node: null}``; failures end with
``execution_error`` / ``execution_interrupted``. A deleted queued prompt produces no event.
Events of a prompt queued without ``client_id`` are broadcast to every socket.

Per-prompt behaviour is chosen by markers in the positive prompt text: ``[error]``, ``[oom]``,
``[interrupt]`` (interrupted on the server by someone else), ``[drop]`` (the server drops the
WebSocket once, mid-run). ``checkpoints`` is the server's model folder: a graph that loads any
other file is refused with HTTP 400 and ComfyUI's ``node_errors``, as the real server does.
``previews=False`` is a server started without ``--preview-method``: no binary preview frames.
A hostile server: ``[deep]`` makes every step also send a text frame and a preview's metadata
nested 100,000 levels deep, and ``[deep-400]`` refuses the prompt with such a body.
As on the real server, a step's preview frame follows that step's ``progress`` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import struct
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.helpers import eventually

# JSON that plain ``json.loads`` answers with RecursionError (not a ValueError).
DEEP_JSON = "[" * 100_000 + "]" * 100_000


@dataclass
class FakePrompt:
    prompt_id: str
    number: int
    graph: dict[str, Any]
    client_id: str | None

    def queue_item(self) -> list[Any]:
        return [self.number, self.prompt_id, self.graph, {"client_id": self.client_id}, ["9"]]

    def text(self) -> str:
        for node in self.graph.values():
            if node.get("class_type") == "CLIPTextEncode":
                return str(node["inputs"].get("text", ""))
        return ""

    def node(self, class_type: str) -> dict[str, Any]:
        for node in self.graph.values():
            if node.get("class_type") == class_type:
                inputs: dict[str, Any] = node["inputs"]
                return inputs
        return {}


def _png(width: int, height: int, seed: int) -> bytes:
    buf = io.BytesIO()
    color = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def _preview(kind: int, prompt_id: str, step: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (step * 20 % 256, 0, 0)).save(buf, "JPEG")
    image = buf.getvalue()
    if kind == 1:
        return struct.pack(">II", 1, 1) + image
    meta = json.dumps({"node_id": "3", "prompt_id": prompt_id, "image_type": "image/jpeg"})
    return struct.pack(">II", 4, len(meta)) + meta.encode() + image


@dataclass
class FakeComfyUI:
    step_delay: float = 0.003
    history_delay: float = 0.0
    foreign_events: bool = False  # also broadcast progress of somebody else's prompt
    url: str = ""
    pending: list[FakePrompt] = field(default_factory=list)
    running: FakePrompt | None = None
    history: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    sockets: dict[str, WebSocket] = field(default_factory=dict)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    interrupted: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    connections: int = 0
    queued_ids: list[str] = field(default_factory=list)
    refuse_sockets: bool = False  # answer new WebSocket handshakes with 403
    checkpoints: tuple[str, ...] = ("sd15.safetensors", "v1-5-pruned-emaonly.safetensors")
    previews: bool = True  # False: started without --preview-method

    def __post_init__(self) -> None:
        self.gate = asyncio.Event()  # clear it to keep prompts waiting in the queue
        self.gate.set()
        self._wakeup = asyncio.Event()
        self._counter = 0
        self._background: set[asyncio.Task[None]] = set()
        self.app = Starlette(
            routes=[
                WebSocketRoute("/ws", self._ws),
                Route("/prompt", self._post_prompt, methods=["POST"]),
                Route("/queue", self._get_queue, methods=["GET"]),
                Route("/queue", self._post_queue, methods=["POST"]),
                Route("/interrupt", self._interrupt, methods=["POST"]),
                Route("/history/{prompt_id}", self._history),
                Route("/view", self._view),
                Route("/upload/image", self._upload, methods=["POST"]),
            ]
        )

    def called(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in self.calls if (m, p) == (method, path)]

    # --- HTTP --------------------------------------------------------------------------------

    async def _post_prompt(self, request: Request) -> Response:
        body = await request.json()
        self.calls.append(("POST", "/prompt", body))
        graph = body.get("prompt")
        if not isinstance(graph, dict):
            return JSONResponse({"error": "no prompt", "node_errors": []}, status_code=400)
        prompt = FakePrompt(str(uuid.uuid4()), self._counter, graph, body.get("client_id"))
        self._counter += 1
        ckpt = prompt.node("CheckpointLoaderSimple").get("ckpt_name")
        image = prompt.node("LoadImage").get("image")
        if "[deep-400]" in prompt.text():
            return Response(DEEP_JSON, status_code=400, media_type="application/json")
        errors: dict[str, Any] = {}
        if ckpt is not None and ckpt not in self.checkpoints:
            errors["4"] = (
                "CheckpointLoaderSimple",
                f"ckpt_name: '{ckpt}' not in {list(self.checkpoints)}",
            )
        if image is not None and image not in self.uploads:
            errors["10"] = ("LoadImage", f"Invalid image file: {image}")
        if errors:
            return JSONResponse(
                {
                    "error": {
                        "type": "prompt_outputs_failed_validation",
                        "message": "Prompt outputs failed validation",
                        "details": "",
                        "extra_info": {},
                    },
                    "node_errors": {
                        node_id: {
                            "errors": [
                                {
                                    "type": "value_not_in_list",
                                    "message": "Value not in list",
                                    "details": details,
                                    "extra_info": {},
                                }
                            ],
                            "dependent_outputs": ["9"],
                            "class_type": class_type,
                        }
                        for node_id, (class_type, details) in errors.items()
                    },
                },
                status_code=400,
            )
        self.pending.append(prompt)
        self.queued_ids.append(prompt.prompt_id)
        self._wakeup.set()
        return JSONResponse(
            {"prompt_id": prompt.prompt_id, "number": prompt.number, "node_errors": {}}
        )

    async def _get_queue(self, request: Request) -> Response:
        self.calls.append(("GET", "/queue", None))
        running = [self.running.queue_item()] if self.running else []
        return JSONResponse(
            {"queue_running": running, "queue_pending": [p.queue_item() for p in self.pending]}
        )

    async def _post_queue(self, request: Request) -> Response:
        body = await request.json()
        self.calls.append(("POST", "/queue", body))
        for prompt_id in body.get("delete", []):
            self.pending = [p for p in self.pending if p.prompt_id != prompt_id]
        if body.get("clear"):
            self.pending.clear()
        return Response(status_code=200)

    async def _interrupt(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        self.calls.append(("POST", "/interrupt", body))
        target = body.get("prompt_id")
        if self.running is not None and target in (None, self.running.prompt_id):
            self.interrupted.add(self.running.prompt_id)
        return Response(status_code=200)

    async def _history(self, request: Request) -> Response:
        prompt_id = request.path_params["prompt_id"]
        entry = self.history.get(prompt_id)
        return JSONResponse({prompt_id: entry} if entry else {})

    async def _view(self, request: Request) -> Response:
        q = request.query_params
        key = (q.get("filename", ""), q.get("subfolder", ""), q.get("type", "output"))
        data = self.files.get(key)
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="image/png")

    async def _upload(self, request: Request) -> Response:
        async with request.form() as form:
            image = form["image"]
            assert not isinstance(image, str)
            name = image.filename or "upload.png"
            self.uploads[name] = await image.read()
            self.calls.append(
                ("POST", "/upload/image", {k: v for k, v in form.items() if isinstance(v, str)})
            )
        return JSONResponse({"name": name, "subfolder": "", "type": "input"})

    # --- WebSocket ---------------------------------------------------------------------------

    async def _ws(self, ws: WebSocket) -> None:
        sid = ws.query_params.get("clientId") or uuid.uuid4().hex
        if self.refuse_sockets:
            await ws.close(code=1008)  # before accept: the client sees HTTP 403
            return
        await ws.accept()
        self.connections += 1
        self.sockets[sid] = ws
        status = {"status": {"exec_info": {"queue_remaining": len(self.pending)}}, "sid": sid}
        await ws.send_text(json.dumps({"type": "status", "data": status}))
        try:
            while True:
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if self.sockets.get(sid) is ws:
                del self.sockets[sid]

    async def _send(self, sid: str | None, kind: str, data: dict[str, Any]) -> None:
        text = json.dumps({"type": kind, "data": data})
        targets = [self.sockets.get(sid)] if sid else list(self.sockets.values())
        for ws in targets:
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.send_text(text)

    async def _send_raw(self, sid: str | None, text: str) -> None:
        targets = [self.sockets.get(sid)] if sid else list(self.sockets.values())
        for ws in targets:
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.send_text(text)

    async def _send_bytes(self, sid: str | None, data: bytes) -> None:
        targets = [self.sockets.get(sid)] if sid else list(self.sockets.values())
        for ws in targets:
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.send_bytes(data)

    # --- the "GPU" ---------------------------------------------------------------------------

    async def worker(self) -> None:
        while True:
            await self.gate.wait()
            if not self.pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            prompt = self.pending.pop(0)
            self.running = prompt
            try:
                await self._execute(prompt)
            finally:
                self.running = None

    def _finish(
        self, prompt: FakePrompt, status: str, messages: list[Any], outputs: dict[str, Any]
    ) -> None:
        self.history[prompt.prompt_id] = {
            "prompt": prompt.queue_item(),
            "outputs": outputs,
            "status": {
                "status_str": status,
                "completed": status == "success",
                "messages": messages,
            },
        }

    async def _execute(self, prompt: FakePrompt) -> None:
        pid, sid, text = prompt.prompt_id, prompt.client_id, prompt.text()
        await self._send(sid, "execution_start", {"prompt_id": pid, "timestamp": 1})
        await self._send(sid, "execution_cached", {"nodes": [], "prompt_id": pid, "timestamp": 1})
        for node in ("4", "6", "7", "5"):
            await self._send(
                sid, "executing", {"node": node, "display_node": node, "prompt_id": pid}
            )
        await self._send(sid, "executing", {"node": "3", "display_node": "3", "prompt_id": pid})
        sampler = prompt.node("KSampler")
        steps = int(sampler.get("steps", 20))
        for value in range(1, steps + 1):
            failure = None
            if pid in self.interrupted or ("[interrupt]" in text and value == 2):
                data = {
                    "prompt_id": pid,
                    "node_id": "3",
                    "node_type": "KSampler",
                    "executed": ["4"],
                }
                await self._send(sid, "execution_interrupted", data)
                self._finish(prompt, "error", [["execution_interrupted", data]], {})
                return
            if "[error]" in text and value == 2:
                failure = ("RuntimeError", "mat1 and mat2 shapes cannot be multiplied")
            if "[oom]" in text and value == 2:
                failure = ("torch.OutOfMemoryError", "CUDA out of memory")
            if failure:
                error: dict[str, Any] = {
                    "prompt_id": pid,
                    "node_id": "3",
                    "node_type": "KSampler",
                    "executed": [],
                    "exception_type": failure[0],
                    "exception_message": failure[1],
                    "traceback": ["..."],
                    "current_inputs": {},
                    "current_outputs": {},
                }
                await self._send(sid, "execution_error", error)
                self._finish(prompt, "error", [["execution_error", error]], {})
                return
            progress = {"value": value, "max": steps, "prompt_id": pid, "node": "3"}
            await self._send(sid, "progress", progress)
            if self.previews:
                await self._send_bytes(sid, _preview(1 if value % 2 else 4, pid, value))
            if "[deep]" in text:
                await self._send_raw(sid, DEEP_JSON)
                meta = DEEP_JSON.encode()
                await self._send_bytes(sid, struct.pack(">II", 4, len(meta)) + meta + b"\xff\xd8")
            if self.foreign_events:
                other = {
                    "value": steps * 10,
                    "max": steps * 10,
                    "prompt_id": "someone-else",
                    "node": "3",
                }
                await self._send(None, "progress", other)
                if self.previews:
                    await self._send_bytes(None, _preview(4, "someone-else", value))
            if "[drop]" in text and value == 2 and pid not in self.dropped and sid in self.sockets:
                self.dropped.add(pid)
                self.refuse_sockets = "[stay-down]" in text
                with contextlib.suppress(Exception):
                    await self.sockets[sid].close(code=1011)
            await asyncio.sleep(self.step_delay)
        size = prompt.node("ImageScale") or prompt.node("EmptyLatentImage")
        filename = (
            f"{prompt.node('SaveImage').get('filename_prefix', 'ComfyUI')}_{prompt.number:05}_.png"
        )
        self.files[(filename, "", "output")] = _png(
            int(size.get("width", 64)), int(size.get("height", 64)), int(sampler.get("seed", 0))
        )
        output = {"images": [{"filename": filename, "subfolder": "", "type": "output"}]}
        await self._send(sid, "executing", {"node": "9", "display_node": "9", "prompt_id": pid})
        await self._send(
            sid, "executed", {"node": "9", "display_node": "9", "output": output, "prompt_id": pid}
        )
        success = ["execution_success", {"prompt_id": pid, "timestamp": 2}]
        if self.history_delay:
            # The done signal can overtake the history write on a real server.
            async def late() -> None:
                await asyncio.sleep(self.history_delay)
                self._finish(prompt, "success", [success], {"9": output})

            task = asyncio.get_running_loop().create_task(late())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        else:
            self._finish(prompt, "success", [success], {"9": output})
        await self._send(sid, "execution_success", {"prompt_id": pid, "timestamp": 2})
        await self._send(sid, "executing", {"node": None, "prompt_id": pid})


@contextlib.asynccontextmanager
async def serve(fake: FakeComfyUI) -> AsyncIterator[FakeComfyUI]:
    """Run ``fake`` on a free loopback port under a real uvicorn server."""
    config = uvicorn.Config(
        fake.app,
        host="127.0.0.1",
        port=0,
        log_level="error",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    server_task = asyncio.create_task(server.serve())
    worker = asyncio.create_task(fake.worker())
    try:
        await eventually(lambda: server.started, message="fake ComfyUI started")
        port = server.servers[0].sockets[0].getsockname()[1]
        fake.url = f"http://127.0.0.1:{port}"
        yield fake
    finally:
        worker.cancel()
        for ws in list(fake.sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close()
        server.should_exit = True
        await server_task
        with contextlib.suppress(asyncio.CancelledError):
            await worker
