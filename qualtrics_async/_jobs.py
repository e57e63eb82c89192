"""Waiting for an asynchronous Qualtrics job: the one poll loop of imports and contact exports.

Qualtrics runs imports and exports as jobs: a POST starts one, a GET reports its
``percentComplete`` and ``status``. :func:`wait_for_job` polls such a job on a
:class:`~qualtrics_async.exports.PollSchedule` (predicting completion from the progress, never
twice within the schedule's minimum gap, backing off while nothing moves) until the caller's
``finished`` says it is done, or the deadline comes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from qualtrics_async.exports._polling import PollSchedule

S = TypeVar("S")


async def wait_for_job(
    fetch: Callable[[], Awaitable[S]],
    *,
    progress: Callable[[S], float],
    finished: Callable[[S], bool],
    deadline: float | None = None,
    on_deadline: Callable[[S | None], BaseException],
    schedule: PollSchedule | None = None,
    first: S | None = None,
) -> S:
    """Poll ``fetch()`` until ``finished(status)`` is true; returns that last status.

    Args:
        fetch: one status request (its own retries and rate limiting are the client's).
        progress: the status's percent complete (0-100), which paces the polls.
        finished: ``True`` once the job is done, ``False`` while it runs; it raises for a
            job that failed (so the failure names the job in the caller's terms).
        deadline: ``time.monotonic()`` value after which no poll is started; ``None``: no limit.
        on_deadline: builds the exception raised at the deadline, from the last status seen
            (``None`` if none was).
        schedule: the poll timing; a fresh :class:`PollSchedule` by default.
        first: a status already known (the answer to the start request), if any.
    """
    schedule = schedule or PollSchedule()
    status = first
    schedule.observe(time.monotonic(), 0.0 if first is None else progress(first))
    if first is not None and finished(first):
        return first
    while True:
        now = time.monotonic()
        delay = schedule.next_delay(now)
        if deadline is not None and now + delay > deadline:
            raise on_deadline(status)
        await anyio.sleep(delay)
        status = await fetch()
        schedule.observe(time.monotonic(), progress(status))
        if finished(status):
            return status


__all__ = ["wait_for_job"]
