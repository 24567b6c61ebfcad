"""Cross-site WebSocket hijacking: foreign and missing Origins on every socket of the app.

The sockets come from the routing table (``routes.sockets``), so those added later are covered.
The rule (docs/protocol.md, "Handshake"): a browser always sends ``Origin``; one that is not the
site's own is refused with HTTP 403 before the socket is accepted, whatever cookie comes with it.
A handshake without ``Origin`` is not a browser's: it passes, and authentication alone decides.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rooms import close_codes
from tests.rooms.ykit import open_ws
from tests.security.conftest import Site
from tests.security.routes import fill, sockets

pytestmark = pytest.mark.slow


def _foreign(site: Site) -> list[str]:
    """Origins a hostile page could have, lookalikes of the site's own included."""
    host = site.url.removeprefix("http://")
    return [
        "https://evil.example",
        "null",
        f"http://{host}.evil.example",
        f"https://{host}",
        f"http://evil.example/{host}",
        "file://",
    ]


async def _handshake(url: str, headers: dict[str, str]) -> ClientConnection | int:
    """The open socket, or the HTTP status that refused the handshake."""
    try:
        return await open_ws(url, additional_headers=headers)
    except InvalidStatus as refused:
        return refused.response.status_code


async def _first_or_close(ws: ClientConnection) -> int | None:
    """None if the server admits the socket (a y-websocket frame, or an event other than an
    ``error``), else the code it closes with."""
    try:
        while True:
            frame = await ws.recv()
            if isinstance(frame, bytes) or json.loads(frame).get("type") != "error":
                return None
    except ConnectionClosed:
        return ws.close_code


async def test_every_socket_refuses_foreign_origins_even_with_a_cookie(site: Site) -> None:
    """For every socket route: Alice's session cookie with each foreign Origin is refused with
    HTTP 403 at the handshake; with the site's Origin it is admitted. About 3 s."""
    cookie = {"cookie": f"hub_session={site.alice.cookie}"}
    wrong = []
    for path in sockets(site.live.app):
        url = site.live.ws_url + fill(path, site.params)
        for origin in _foreign(site):
            answer = await _handshake(url, {**cookie, "origin": origin})
            if answer != 403:
                wrong.append(f"{path} origin={origin}: {answer}")
                if not isinstance(answer, int):
                    await answer.close()
        admitted = await _handshake(url, {**cookie, "origin": site.url})
        assert not isinstance(admitted, int), (path, admitted)
        assert await _first_or_close(admitted) is None, path
        await admitted.close()
    assert wrong == [], "\n".join(wrong)


async def test_without_origin_only_credentials_decide(site: Site) -> None:
    """For every socket route, no Origin header (a script, not a browser): without
    credentials the private room refuses the socket with a 44xx close; with Alice's token it
    is admitted. About 2 s."""
    for path in sockets(site.live.app):
        url = site.live.ws_url + fill(path, site.params)
        anonymous = await _handshake(url, {})
        assert not isinstance(anonymous, int), (path, anonymous)
        code = await _first_or_close(anonymous)
        with contextlib.suppress(Exception):
            await anonymous.close()
        assert code is not None, f"{path}: admitted a stranger to a private room"
        assert close_codes.stops_stock_clients(code), (path, code)
        member = await _handshake(f"{url}?token={site.alice.bearer}", {})
        assert not isinstance(member, int), (path, member)
        assert await _first_or_close(member) is None, path
        await member.close()
