"""Close codes: which ones stop stock clients for good, and that each is documented."""

from __future__ import annotations

import re
from pathlib import Path

from rooms import close_codes

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

# Decisions that retrying cannot change (ADR 0009). Everything else must be retried.
PERMANENT = {
    close_codes.UNAUTHENTICATED,
    close_codes.FORBIDDEN,
    close_codes.NO_SUCH_ROOM,
    close_codes.KICKED,
    close_codes.ROOM_CLOSED,
    close_codes.ROOM_FULL,
}


def _all_codes() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(close_codes).items()
        if name.isupper() and isinstance(value, int)
    }


def test_only_decisions_retrying_cannot_change_stop_stock_clients() -> None:
    codes = _all_codes()
    assert {c for c in codes.values() if close_codes.stops_stock_clients(c)} == PERMANENT
    assert not close_codes.stops_stock_clients(close_codes.SLOW_CONSUMER)
    assert not close_codes.stops_stock_clients(close_codes.RATE_LIMITED)
    assert [close_codes.stops_stock_clients(c) for c in (4399, 4400, 4499, 4500)] == [
        False,
        True,
        True,
        False,
    ]


def test_every_code_is_unique_described_and_documented() -> None:
    codes = _all_codes()
    assert len(set(codes.values())) == len(codes)
    documented = {
        int(code)
        for code in re.findall(r"^\| (\d{4}) \|", PROTOCOL_DOC.read_text("utf-8"), re.MULTILINE)
    }
    assert documented == set(codes.values())
    for code in codes.values():
        assert close_codes.describe(code) != "closed", code
    assert close_codes.describe(4999) == "closed"
