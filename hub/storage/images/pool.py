"""The image thread pool: image work runs here, off the event loop, so that a burst of uploads
cannot block it. Each public image function has an ``*_async`` twin made by :func:`pooled`
(``validate_upload_async`` is written out: it rejects an oversize file without the thread hop)."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

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


def pooled(func: Callable[_P, _T]) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """The ``*_async`` twin of ``func``: the same arguments, run through :func:`run_on_pool`."""

    @functools.wraps(func)
    async def on_pool(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await run_on_pool(func, *args, **kwargs)

    on_pool.__name__ = f"{func.__name__}_async"
    on_pool.__qualname__ = f"{func.__qualname__}_async"
    on_pool.__doc__ = f":func:`{func.__name__}` on the image thread pool."
    return on_pool
