"""Stripe webhooks: the signature check and the event envelope.

Stripe signs each delivery with the endpoint's secret (https://docs.stripe.com/webhooks):
``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "{t}.{raw body}">`` (several ``v1``
entries while a secret is being rolled). A delivery is accepted when one ``v1`` matches, compared
in constant time, and ``t`` is within :data:`TOLERANCE_SECONDS` of now, so a captured delivery
cannot be replayed later. The body is checked byte for byte, before it is parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from hub.errors import BadRequest, InvalidJSON

TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "stripe-signature"
MAX_HEADER = 2048


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``v1`` signature of ``payload`` at ``timestamp`` (what Stripe computes)."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(payload: bytes, header: str | None, secret: str, *, now: float) -> None:
    """Raise BadRequest (400) unless ``header`` carries a valid, fresh signature of
    ``payload`` made with ``secret``."""
    if not secret:
        raise BadRequest("Stripe webhooks are not configured (HUB_STRIPE_WEBHOOK_SECRET).")
    if not header or len(header) > MAX_HEADER:
        raise BadRequest("The Stripe-Signature header is missing.")
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise BadRequest("The Stripe-Signature header has no timestamp.")
    timestamp = int(timestamps[0])
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise BadRequest(
            "The webhook's timestamp is outside the tolerance.", tolerance=TOLERANCE_SECONDS
        )
    expected = sign(payload, secret, timestamp)
    if not any(hmac.compare_digest(expected, given) for given in signatures if given.isascii()):
        raise BadRequest("The webhook's signature does not match.")


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    data: dict[str, Any]  # data.object


def parse_event(payload: bytes) -> Event:
    """The envelope of a (verified) event: ``{"id", "type", "data": {"object": {...}}}``;
    anything else is 400."""
    try:
        body = json.loads(payload)
    except ValueError:
        raise InvalidJSON("The webhook body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The webhook body is not an event.")
    event_id, event_type, data = body.get("id"), body.get("type"), body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if (
        not isinstance(event_id, str)
        or not 0 < len(event_id) <= 255
        or not isinstance(event_type, str)
        or not 0 < len(event_type) <= 64
        or not isinstance(obj, dict)
    ):
        raise BadRequest("The webhook body is not an event (id, type, data.object).")
    return Event(event_id, event_type, obj)
