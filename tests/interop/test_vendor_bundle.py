"""The vendored browser bundle (static/vendor/yjs/) matches its pins, licenses and README, and it
works in a real browser against a pycrdt peer speaking y-websocket.

Rebuilding needs npm (tools/frontend/build.sh --check); these tests need neither npm nor network.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pycrdt import (
    Awareness,
    Decoder,
    Doc,
    Text,
    YMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)

from tests.helpers import eventually, service_missing

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "static" / "vendor" / "yjs"
BUNDLE = VENDOR / "yjs-bundle.mjs"
FRONTEND = ROOT / "tools" / "frontend"
INTEROP = ROOT / "tests" / "interop"
CHROMIUM = Path("/usr/bin/chromium")

BROWSER_PACKAGES = {"yjs", "y-websocket", "y-protocols", "lib0"}


def _pins() -> dict[str, str]:
    deps: dict[str, str] = json.loads((FRONTEND / "package.json").read_text())["dependencies"]
    return deps


def _header_packages(bundle: Path) -> dict[str, str]:
    """``{name: version}`` from the bundle's first comment (``... name 1.2.3, name 4.5.6; ...``)."""
    header = bundle.read_text(encoding="utf-8")[:600]
    return dict(re.findall(r"([@\w./-]+) (\d+\.\d+\.\d+)", header.split(";")[0]))


def test_package_json_pins_exact_versions_matching_the_lock_file() -> None:
    lock = json.loads((FRONTEND / "package-lock.json").read_text())["packages"]
    for name, version in _pins().items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned: {version}"
        assert lock[f"node_modules/{name}"]["version"] == version
    assert _pins()["yjs"].startswith("13.6.")
    assert _pins()["y-websocket"].startswith("3.")


def test_browser_bundle_header_names_the_pinned_versions() -> None:
    pins = _pins()
    assert _header_packages(BUNDLE) == {name: pins[name] for name in BROWSER_PACKAGES}


def test_browser_bundle_holds_exactly_one_copy_of_yjs() -> None:
    code = BUNDLE.read_text(encoding="utf-8")
    assert code.count("Yjs was already imported") == 1
    assert len(code) < 200_000, "minified bundle grew unexpectedly"


@pytest.mark.parametrize(
    ("bundle", "licenses"),
    [
        (BUNDLE, VENDOR / "LICENSES.txt"),
        (INTEROP / "yclient.cjs", INTEROP / "LICENSES.txt"),
    ],
    ids=["browser", "interop"],
)
def test_licenses_hold_the_full_text_for_every_bundled_package(
    bundle: Path, licenses: Path
) -> None:
    text = licenses.read_text(encoding="utf-8")
    packages = _header_packages(bundle)
    assert packages
    sections = re.split(r"^={78}\n", text, flags=re.MULTILINE)
    for name, version in packages.items():
        heads = [i for i, s in enumerate(sections) if s.startswith(f"{name}@{version} (")]
        assert len(heads) == 1, f"no license section for {name}@{version}"
        body = sections[heads[0] + 1]
        assert "Permission is hereby granted" in body or "Apache License" in body, name


def test_vendor_readme_records_the_bundle_hash() -> None:
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(BUNDLE.read_bytes()).hexdigest()
    assert digest in readme, "bundle edited by hand or README stale: run tools/frontend/build.sh"
    for name, version in _header_packages(BUNDLE).items():
        assert f"- {name} {version} (" in readme


# ---- in a real browser ----------------------------------------------------------------------

PAGE = """<!doctype html><meta charset="utf-8"><script type="module">
import * as bundle from "/static/vendor/yjs/yjs-bundle.mjs";
const { Y, WebsocketProvider, Awareness } = bundle;
const doc = new Y.Doc();
const text = doc.getText("prompt");
const provider = new WebsocketProvider("ws://hub.test/yjs", "room-1", doc,
  { params: { token: "tok" }, disableBc: true });
provider.awareness.setLocalState({ user: { name: "browser" } });
provider.on("sync", (synced) => { if (synced) text.insert(text.length, " 浏览器"); });
window.probe = () => ({
  exports: Object.keys(bundle).sort(),
  versions: bundle.versions,
  synced: provider.synced,
  text: text.toString(),
  awarenessIsShared: provider.awareness instanceof Awareness,
  peers: [...provider.awareness.getStates().entries()]
    .filter(([id]) => id !== doc.clientID).map(([, s]) => s.user && s.user.name),
});
window.type = (s) => text.insert(0, s);
</script>"""


class PycrdtPeer:
    """The server end of the page's y-websocket connection, spoken with pycrdt."""

    def __init__(self) -> None:
        self.doc: Doc[Text] = Doc()
        self.doc["prompt"] = Text("server")
        self.awareness = Awareness(Doc())
        self.awareness.set_local_state({"user": {"name": "pycrdt"}})
        self.urls: list[str] = []
        self.sockets: list[Any] = []

    @property
    def prompt(self) -> str:
        return str(self.doc.get("prompt", type=Text))

    def connect(self, ws: Any) -> None:
        self.urls.append(ws.url)
        self.sockets.append(ws)
        ws.on_message(lambda message: self.receive(ws, message))
        ws.send(create_sync_message(self.doc))
        ws.send(
            create_awareness_message(
                self.awareness.encode_awareness_update([self.awareness.client_id])
            )
        )

    def receive(self, ws: Any, message: str | bytes) -> None:
        assert isinstance(message, bytes), "y-websocket sends binary frames only"
        if message[0] == YMessageType.SYNC:
            reply = handle_sync_message(message[1:], self.doc)
            if reply is not None:
                ws.send(reply)
        elif message[0] == YMessageType.AWARENESS:
            payload = Decoder(message[1:]).read_message()
            assert payload is not None
            self.awareness.apply_awareness_update(payload, "page")

    def page_names(self) -> list[str]:
        return [
            state["user"]["name"]
            for client_id, state in self.awareness.states.items()
            if client_id != self.awareness.client_id and state
        ]


@pytest.mark.e2e
async def test_bundle_syncs_text_and_awareness_with_pycrdt_in_chromium() -> None:
    if not CHROMIUM.exists():
        service_missing("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.async_api import Route, async_playwright

    peer = PycrdtPeer()
    console: list[str] = []

    async def serve_file(route: Route) -> None:
        path = route.request.url.removeprefix("http://hub.test")
        if path == "/":
            await route.fulfill(body=PAGE, content_type="text/html; charset=utf-8")
        elif path.startswith("/static/") and (ROOT / path.lstrip("/")).is_file():
            await route.fulfill(path=ROOT / path.lstrip("/"), content_type="text/javascript")
        else:
            await route.fulfill(status=404)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            await page.route("http://hub.test/**", serve_file)
            await page.route_web_socket("ws://hub.test/yjs/**", peer.connect)
            await page.goto("http://hub.test/")
            await page.wait_for_function("window.probe && window.probe().synced", timeout=10_000)

            await eventually(lambda: peer.prompt == "server 浏览器", message="page edit on server")
            peer.doc.get("prompt", type=Text).insert(0, "¡")
            for ws in peer.sockets:  # a plain peer, not a room: send the whole state as an update
                ws.send(create_update_message(peer.doc.get_update()))

            async def probe() -> dict[str, Any]:
                result: dict[str, Any] = await page.evaluate("window.probe()")
                return result

            await eventually(
                lambda: _when(probe(), lambda s: s["text"] == "¡server 浏览器"),
                message="server edit in the page",
            )
            await page.evaluate("window.type('>')")
            state = await eventually(
                lambda: _when(probe(), lambda s: s["peers"]),
                message="server awareness in the page",
            )
            await eventually(lambda: peer.prompt == ">¡server 浏览器", message="second page edit")
        finally:
            await browser.close()

    assert peer.urls == ["ws://hub.test/yjs/room-1?token=tok"]
    assert state["exports"] == [
        "Awareness",
        "WebsocketProvider",
        "Y",
        "awarenessProtocol",
        "decoding",
        "encoding",
        "syncProtocol",
        "versions",
    ]
    assert state["versions"] == {name: _pins()[name] for name in BROWSER_PACKAGES}
    assert state["awarenessIsShared"] is True
    assert state["peers"] == ["pycrdt"]
    assert peer.page_names() == ["browser"]
    assert console == [], console


async def _when(probe: Any, predicate: Any) -> Any:
    value = await probe
    return value if predicate(value) else None
