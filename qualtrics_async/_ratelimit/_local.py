"""The in-process limiter: a no-burst GCRA pacer that grants the brand key and the endpoint key together.

Why not aiolimiter's ``AsyncLimiter(N, 60)``: its bucket starts empty and lets almost 2×N
through in the first window (measured: ``AsyncLimiter(50, 1)`` let 99 requests through in
the first second against a server enforcing 50/s, drawing 53 429s). The no-burst recipe
``AsyncLimiter(1, 60 / N)`` fixes that for one key, but a request here needs two keys (the
brand-wide budget and its endpoint's row): taking them one after the other lets a request
sit between the two, so sends bunch up on the first key when the second one's queue
drains. This pacer instead keeps one theoretical arrival time per key and grants *all* of
a request's keys at the same instant, so the sends on every key stay spaced by at least
the key's interval, and any sliding window holds at most the limit.

Waiters queue FIFO per key set; a request for a slow endpoint never blocks one for a
fast endpoint. A single timer is armed for the earliest waiter (as aiolimiter does). A
waiter cancelled while queued takes nothing with it; one cancelled in the instant between
its grant and its wake-up has used its slot (as with aiolimiter).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from qualtrics_async._logging import logger
from qualtrics_async._ratelimit._limits import RateLimits
from qualtrics_async._ratelimit._pacing import (
    DECREASE_FACTOR,
    DEFAULT_UTILIZATION,
    MIN_MULTIPLIER,
    RECOVERY_STEP,
    check_utilization,
    keys_for,
    pace_for,
)


@runtime_checkable
class RateLimiter(Protocol):
    """What the request pipeline needs from a limiter (local or shared)."""

    async def acquire(self, method: str, path: str) -> None:
        """Wait until a request ``method path`` may be sent under every limit that applies."""

    async def throttled(self, method: str, path: str, retry_after: float | None) -> None:
        """Report a 429 for ``method path``: pause (``retry_after``) and slow down.

        The client passes ``retry_after`` only when it is at most
        ``RetryPolicy.max_retry_after`` (the call waits it out itself); a longer one comes
        as ``None``: the call fails, and other calls are only slowed, never held.
        """


@dataclass(slots=True)
class _KeyState:
    interval: float
    slack: float  # how late a grant may be and still count as on schedule
    tat: float = 0.0  # theoretical arrival time of the next request
    blocked_until: float = 0.0
    multiplier: float = 1.0  # AIMD: the fraction of the configured rate in use
    last_decrease: float = -math.inf
    last_change: float = -math.inf

    def ready_at(self) -> float:
        return max(self.tat, self.blocked_until)

    def consume(self, now: float) -> None:
        # A queued waiter is woken by a timer that fires a little late (asyncio rounds its
        # timeouts up to whole milliseconds). Counting from `now` would add that lateness to
        # every gap and drift well below the rate (0.81 instead of 0.95 at 300/s); a grant
        # within `slack` of its slot counts from the slot instead. A grant after an idle
        # period counts from `now`, so idleness never banks a burst.
        late = now - self.tat
        start = self.tat if 0.0 <= late <= self.slack else max(self.tat, now)
        self.tat = start + self.interval / self.multiplier


@dataclass(slots=True)
class _Waiter:
    seq: int
    future: asyncio.Future[None] = field(repr=False)


class LocalRateLimiter:
    """Paces requests in this process under the brand limit and the endpoint rows of ``limits``.

    Args:
        limits: the table to enforce.
        utilization: the fraction of each limit to use (default 0.95).

    On a 429 (:meth:`throttled`) the key that most likely tripped (the endpoint's row if
    it has a lower limit than the brand, else the brand) pauses for ``Retry-After`` and
    halves its rate, at most once per window; each clean window then gives back 10 % of
    the configured rate, never above it. A pause is logged at WARNING when it starts
    (once per key per pause, however many 429s extend it); see docs/rate-limits.md.
    """

    def __init__(self, limits: RateLimits, *, utilization: float = DEFAULT_UTILIZATION) -> None:
        self._limits = limits
        self._utilization = check_utilization(utilization)
        self._states: dict[str, _KeyState] = {}
        self._queues: dict[tuple[str, ...], deque[_Waiter]] = {}
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._soon: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def limits(self) -> RateLimits:
        """The table this limiter enforces."""
        return self._limits

    def keys_for(self, method: str, path: str) -> tuple[str, ...]:
        """The limiter keys a request takes: the brand, plus its endpoint row if that is lower."""
        return keys_for(self._limits, method, path)

    def _state(self, key: str) -> _KeyState:
        state = self._states.get(key)
        if state is None:
            pace = pace_for(self._limits, key, self._utilization)
            state = _KeyState(interval=pace.interval, slack=pace.slack)
            self._states[key] = state
        return state

    async def acquire(self, method: str, path: str) -> None:
        """Wait for a slot on every key of ``method path``; see :class:`RateLimiter`."""
        keys = self.keys_for(method, path)
        if not keys:
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        # No synchronous fast path: grants are made by the dispatcher, which runs after the
        # tasks that are ready now. In a burst of thousands of tasks, a request granted at
        # once would only reach the wire after all the others had run their first steps
        # (tens of ms), so its slot would be counted from a moment it was not sent at.
        waiter = _Waiter(next(self._seq), loop.create_future())
        self._queues.setdefault(keys, deque()).append(waiter)
        self._schedule_dispatch(loop)
        try:
            await waiter.future
        except asyncio.CancelledError:
            if not waiter.future.done():
                waiter.future.cancel()
            self._schedule_dispatch(loop)  # re-arm for the next waiter; a cancelled one consumed nothing
            raise

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start serving another event loop (a client reopened under a new ``asyncio.run``).

        Waiters and timers of the old loop are dropped; the pace of each key is kept, as
        ``loop.time()`` is the same monotonic clock on every loop.
        """
        for handle in (self._timer, self._soon):
            if handle is not None:
                handle.cancel()
        self._timer = self._soon = None
        self._queues.clear()
        self._loop = loop

    def _schedule_dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._soon is None:
            self._soon = loop.call_soon(self._dispatch)

    def _grant(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            state = self._state(key)
            self._recover(state, now)
            state.consume(now)

    def _recover(self, state: _KeyState, now: float) -> None:
        window = self._limits.window_seconds
        if state.multiplier < 1.0 and now - state.last_change >= window:
            state.multiplier = min(1.0, state.multiplier + RECOVERY_STEP)
            state.last_change = now

    def _dispatch(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._soon is not None:
            self._soon.cancel()  # no-op when this call is that handle running
            self._soon = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while True:
            now = loop.time()
            best_keys: tuple[str, ...] | None = None
            best_at = math.inf
            best_seq = 0
            for keys, queue in list(self._queues.items()):
                while queue and queue[0].future.done():
                    queue.popleft()  # cancelled while waiting
                if not queue:
                    del self._queues[keys]
                    continue
                at = max(self._state(k).ready_at() for k in keys)
                if at < best_at or (at == best_at and queue[0].seq < best_seq):
                    best_keys, best_at, best_seq = keys, at, queue[0].seq
            if best_keys is None:
                return
            if best_at > now:
                self._timer = loop.call_at(best_at, self._dispatch)
                return
            waiter = self._queues[best_keys].popleft()
            self._grant(best_keys, now)
            waiter.future.set_result(None)

    async def throttled(self, method: str, path: str, retry_after: float | None) -> None:
        """Pause and slow the key that a 429 for ``method path`` most likely tripped."""
        keys = self.keys_for(method, path)
        if not keys:
            return
        key = keys[-1]  # the endpoint row when it is stricter than the brand, else the brand
        state = self._state(key)
        loop = self._loop or asyncio.get_running_loop()
        now = loop.time()
        if retry_after is not None and retry_after > 0 and now + retry_after > state.blocked_until:
            if state.blocked_until <= now:  # a new pause, not one more 429 of the current one
                logger.warning(
                    "429 from Qualtrics on %s: pausing %r for %g s (its Retry-After); requests on it wait meanwhile",
                    f"{method} {path}",
                    key,
                    retry_after,
                )
            state.blocked_until = now + retry_after
        state.last_change = now  # recovery needs whole windows without a 429
        if now - state.last_decrease >= self._limits.window_seconds:
            state.multiplier = max(MIN_MULTIPLIER, state.multiplier * DECREASE_FACTOR)
            state.last_decrease = now
            logger.warning(
                "429 from Qualtrics on %s: pacing %r at %.0f%% of its configured rate until clean windows "
                "restore it (another process may share the brand's budget)",
                f"{method} {path}",
                key,
                state.multiplier * 100,
            )
        self._dispatch()

    def rate_multiplier(self, method: str, path: str) -> float:
        """The current AIMD multiplier of the key a 429 on ``method path`` would slow (1.0 = full rate)."""
        keys = self.keys_for(method, path)
        return self._state(keys[-1]).multiplier if keys else 1.0
