"""Logs are JSON with the request id, and never carry credentials from handshake URLs."""

from __future__ import annotations

import io
import json
import logging

from hub.logs import JSONFormatter, RedactSecretsFilter, redact, request_id_var


def test_token_in_query_is_redacted() -> None:
    line = 'GET /yjs/room?token=hub_pat_secret123&x=1 HTTP/1.1" 101'
    assert "hub_pat_secret123" not in redact(line)
    assert "token=[redacted]&x=1" in redact(line)
    assert redact("/auth/callback?state=s&code=abc") == "/auth/callback?state=s&code=[redacted]"


def test_uvicorn_style_args_are_redacted_in_json_output() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    token = request_id_var.set("req-1")
    try:
        logger.warning('%s - "WebSocket %s" [accepted]', "127.0.0.1:5", "/yjs/r?token=abc.def")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert "abc.def" not in entry["msg"]
    assert entry["request_id"] == "req-1"
    assert entry["level"] == "warning"
