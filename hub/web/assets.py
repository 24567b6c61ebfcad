"""Static files under hashed names: ``static_url("css/hub.css")`` is
``/static/v/<hash>/css/hub.css``, where ``<hash>`` is the first 12 hex digits of the file's
SHA-256. A URL whose hash matches the file on disk never changes meaning, so it is served with
``Cache-Control: public, max-age=31536000, immutable``; anything else under ``/static`` (a plain
path, a stale hash, a module imported by a relative path from a hashed one) is served with
``no-cache`` and an ETag, so a browser revalidates it and never keeps a stale copy (ADR 0022).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_HASHED = re.compile(r"^v/([0-9a-f]{12})/(.+)$")

# path -> (mtime_ns, size, digest): a stat per call, a hash only when the file changed, so an
# edit during development shows at the next page load.
_digests: dict[str, tuple[int, int, str]] = {}
_lock = threading.Lock()


def file_hash(relative: str, root: Path = STATIC_DIR) -> str | None:
    path = root / relative
    try:
        stat = path.stat()
    except OSError:
        return None
    cached = _digests.get(str(path))
    if cached and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
        return cached[2]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    with _lock:
        _digests[str(path)] = (stat.st_mtime_ns, stat.st_size, digest)
    return digest


def static_url(path: str) -> str:
    """The URL of ``static/<path>``, hashed when the file exists."""
    relative = path.lstrip("/")
    if relative.startswith("static/"):
        relative = relative[len("static/") :]
    digest = file_hash(relative)
    return f"/static/v/{digest}/{relative}" if digest else f"/static/{relative}"


class HashedStaticFiles(StaticFiles):
    """StaticFiles that understands ``v/<hash>/`` and sets the cache lifetime."""

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        match = _HASHED.match(path.replace(os.sep, "/"))
        return os.path.normpath(match.group(2)) if match else path

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            requested = super().get_path(scope).replace(os.sep, "/")
            match = _HASHED.match(requested)
            fresh = match is not None and file_hash(match.group(2), Path(str(self.directory)))
            immutable = match is not None and fresh == match.group(1)
            response.headers["cache-control"] = IMMUTABLE if immutable else REVALIDATE
        return response
