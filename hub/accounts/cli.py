"""``hub user create`` and ``hub token create`` (filled in by the accounts domain)."""

from __future__ import annotations

import argparse
from typing import Any


def register_commands(sub: Any) -> None:
    _ = argparse
    return None
