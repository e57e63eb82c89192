"""Server-side rate limiting for the emulator: what Qualtrics would answer with 429.

Each request is checked against the brand-wide key and its endpoint key (from
:meth:`RateLimits.route`); it is admitted only if every key has room, and a rejected
request consumes nothing. Two readings of "N requests per minute" are offered:

* ``"sliding"`` (default, the strictest reading): fewer than N admitted requests in the
  trailing window. A deque of admission times per key keeps this O(1) amortised.
* ``"leaky"``: a leaky bucket of capacity N draining at N per window (the algorithm one
  secondary source attributes to Qualtrics, qualtrics-api.md §2.3). It admits a burst of
  N and then N per window, so up to 2N can land in one window.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal, Protocol

from qualtrics_async._ratelimit import RateLimits

LimitMode = Literal["sliding", "leaky"]


class _Meter(Protocol):
    def wait(self, now: float) -> float:
        """Seconds until one more request fits (0 when it fits now)."""

    def admit(self, now: float) -> None:
        """Record one admitted request."""


class _SlidingWindow:
    __slots__ = ("_slots", "_stamps", "_window")

    def __init__(self, per_window: float, window: float) -> None:
        # "fewer than N" with a fractional N admits ceil(N) per window.
        self._slots = max(1, math.ceil(per_window))
        self._window = window
        self._stamps: deque[float] = deque()

    def wait(self, now: float) -> float:
        stamps = self._stamps
        horizon = now - self._window
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        if len(stamps) < self._slots:
            return 0.0
        # Room appears when the oldest stamp that keeps us at the limit leaves the window.
        return stamps[len(stamps) - self._slots] + self._window - now

    def admit(self, now: float) -> None:
        self._stamps.append(now)


class _LeakyBucket:
    __slots__ = ("_capacity", "_level", "_rate", "_updated")

    def __init__(self, per_window: float, window: float) -> None:
        self._capacity = max(1.0, per_window)
        self._rate = per_window / window
        self._level = 0.0
        self._updated: float | None = None

    def wait(self, now: float) -> float:
        if self._updated is not None:
            self._level = max(0.0, self._level - (now - self._updated) * self._rate)
        self._updated = now
        excess = self._level + 1.0 - self._capacity
        return 0.0 if excess <= 1e-9 else excess / self._rate

    def admit(self, now: float) -> None:
        self._level += 1.0


class ServerLimiter:
    """Admission control for one emulator (used from its event loop only)."""

    __slots__ = ("_brand", "_limits", "_meter", "_meters")

    def __init__(self, limits: RateLimits, mode: LimitMode = "sliding") -> None:
        if mode == "sliding":
            self._meter: type[_SlidingWindow | _LeakyBucket] = _SlidingWindow
        elif mode == "leaky":
            self._meter = _LeakyBucket
        else:
            raise ValueError(f"limit_mode must be 'sliding' or 'leaky', got {mode!r}")
        self._limits = limits
        self._meters: dict[str, _Meter] = {}
        brand = limits.brand_per_minute
        self._brand: _Meter | None = None if brand is None else self._meter(brand, limits.window_seconds)

    def try_admit(self, method: str, path: str, now: float) -> float | None:
        """Admit the request (``None``) or return the seconds until it would fit.

        ``path`` is API-relative (``/surveys/SV_…``). Nothing is recorded on rejection.
        """
        meters: list[_Meter] = []
        if self._brand is not None:
            meters.append(self._brand)
        route = self._limits.route(method, path)
        if route.key is not None and route.per_minute is not None:
            meter = self._meters.get(route.key)
            if meter is None:
                meter = self._meters[route.key] = self._meter(route.per_minute, self._limits.window_seconds)
            meters.append(meter)
        wait = max((m.wait(now) for m in meters), default=0.0)
        if wait > 0.0:
            return wait
        for m in meters:
            m.admit(now)
        return None
