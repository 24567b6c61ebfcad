"""Default avatars: a 5x5 mirrored identicon derived from the username, as SVG.

Deterministic (same name, same picture on every process) and free of stored state, so it serves
until the storage domain lets people upload their own.
"""

from __future__ import annotations

import hashlib

_GRID = 5
_CELL = 16
_PAD = 8


def identicon_svg(username: str) -> str:
    digest = hashlib.sha256(username.lower().encode("utf-8")).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    color = f"hsl({hue}, 55%, 50%)"
    cells: list[str] = []
    half = (_GRID + 1) // 2
    for row in range(_GRID):
        for column in range(half):
            bit = digest[2 + row * half + column] & 1
            if not bit:
                continue
            for x in sorted({column, _GRID - 1 - column}):
                cells.append(
                    f'<rect x="{_PAD + x * _CELL}" y="{_PAD + row * _CELL}" '
                    f'width="{_CELL}" height="{_CELL}"/>'
                )
    size = _GRID * _CELL + 2 * _PAD
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img">'
        f'<rect width="{size}" height="{size}" fill="#f0f0f0"/>'
        f'<g fill="{color}">{"".join(cells)}</g></svg>'
    )
