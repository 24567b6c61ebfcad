"""The image thread pool: image work runs here, off the event loop, so that a burst of uploads
cannot block it. Each public image function has an ``*_async`` twin that calls it through
:func:`run_on_pool`."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")
_executor: ThreadPoolExecutor | None = None


def _image_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        # Pillow releases the GIL while decoding and encoding, so about one worker per core is
        # useful; the decode slots, not the pool size, bound how many images are in memory.
        _executor = ThreadPoolExecutor(
            max_workers=max(2, min(4, os.cpu_count() or 1)), thread_name_prefix="hub-images"
        )
    return _executor


async def run_on_pool(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``func(*args, **kwargs)`` on the image thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_image_executor(), functools.partial(func, *args, **kwargs))
