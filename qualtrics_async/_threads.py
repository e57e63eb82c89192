"""Blocking work in a worker thread that a cancellation really stops.

anyio's ``to_thread.run_sync`` shields a thread only against anyio's own cancel scopes: a
plain asyncio cancellation (``task.cancel()``, ``asyncio.timeout``) returns at once while
the thread runs on, so a file could be unzipped into place after its caller was told the
export was cancelled. Here the thread gets a ``stop`` event it checks between steps; on
cancellation the event is set and the thread awaited before the cancellation goes on, so
the cleanup that follows sees the thread's last write (docs/exports.md, "Deadlines").
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """Raised inside the worker thread when it saw ``stop`` set; never reaches a caller."""


async def run_stoppable(work: Callable[[threading.Event], T]) -> T:
    """``work(stop)`` in a worker thread; on cancellation (or any exception while waiting),
    set ``stop``, wait for the thread to return, then re-raise."""
    stop = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(None, work, stop)
    try:
        return await asyncio.shield(future)
    except BaseException:
        stop.set()
        while not future.done():  # a thread that checks `stop` returns within one step
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({future})
        if not future.cancelled():
            future.exception()  # retrieved: its Stopped is expected, not "never retrieved"
        raise


def check(stop: threading.Event | None) -> None:
    """Raise :class:`Stopped` if ``stop`` is set (call it between steps of blocking work)."""
    if stop is not None and stop.is_set():
        raise Stopped
