"""Job ids (time-ordered UUIDv7) and lease tokens."""

from __future__ import annotations

import os
import random
import secrets
import threading
import time

_id_lock = threading.Lock()
_last_id_ms = 0
_id_seq = 0


def new_job_id() -> str:
    """A UUID in the version 7 layout: 48-bit millisecond time, a 12-bit per-process counter
    and random bits, so ids created later sort later (FIFO order survives equal timestamps)."""
    global _last_id_ms, _id_seq
    with _id_lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_id_ms:
            _id_seq += 1
            if _id_seq > 0xFFF:
                _last_id_ms += 1
                _id_seq = 0
            now_ms = _last_id_ms
        else:
            _id_seq = random.getrandbits(8)
        _last_id_ms = now_ms
        seq = _id_seq
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (now_ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand
    hexed = f"{value:032x}"
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def new_lease_token(worker_id: str) -> str:
    # Unique per claim: a late write from an earlier claim of the same job (same worker) can
    # never touch the current one.
    return f"{worker_id[:47]}/{secrets.token_hex(8)}"
