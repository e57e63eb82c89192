"""What every limiter shares: the keys a request takes, each key's pace, and the AIMD constants.

The in-process limiter and the Redis-shared one read their pacing from here, so the two
cannot drift apart: the same request takes the same keys at the same interval in both.
"""

from __future__ import annotations

from dataclasses import dataclass

from qualtrics_async._ratelimit._limits import RateLimits
from qualtrics_async.errors import ConfigurationError

BRAND_KEY = "brand"
"""The key of the brand-wide budget (endpoint keys are ``"METHOD /path/{template}"``)."""

DEFAULT_UTILIZATION = 0.95
"""Fraction of each published limit the pacer uses, leaving headroom for clock and network jitter."""

DECREASE_FACTOR = 0.5
"""AIMD: a 429 multiplies the pace of the key it tripped by this (at most once per window)."""
MIN_MULTIPLIER = 0.05
"""AIMD: the pace never drops below this fraction of the configured rate."""
RECOVERY_STEP = 0.1
"""AIMD: each window without a 429 gives back this fraction of the configured rate."""


def check_utilization(utilization: float) -> float:
    """``utilization`` if it is in (0, 1], else a :class:`ConfigurationError`."""
    if not 0 < utilization <= 1:
        raise ConfigurationError(f"utilization must be in (0, 1], got {utilization!r}")
    return utilization


def keys_for(limits: RateLimits, method: str, path: str) -> tuple[str, ...]:
    """The keys a request takes: the brand, plus its endpoint row if that is lower.

    The last key is the one a 429 most likely tripped. Keys hold templates, never ids.
    """
    route = limits.route(method, path)
    brand = limits.brand_per_minute
    keys: list[str] = []
    if brand is not None:
        keys.append(BRAND_KEY)
    if route.key is not None and route.per_minute is not None and (brand is None or route.per_minute < brand):
        keys.append(route.key)
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class Pace:
    """How one key is paced: grants ``interval`` seconds apart, ``slack`` of timer lateness forgiven."""

    interval: float
    slack: float


def pace_for(limits: RateLimits, key: str, utilization: float) -> Pace:
    """The pace of ``key`` under ``limits`` at ``utilization`` of its rate."""
    per_minute = limits.brand_per_minute if key == BRAND_KEY else limits.per_minute(key)
    if per_minute is None:
        raise KeyError(key)
    window = limits.window_seconds
    interval = window / (per_minute * utilization)
    # A grant within `slack` of its slot counts from the slot, so timer lateness does not
    # add to every gap. That keeps any window at or under the limit: a window spans at most
    # (window + slack) / interval slots, below the limit for any utilization < 1. Capped at
    # a few intervals so catching up after a stall never sends a burst.
    slack = min(4 * interval, 0.25 * (1.0 - utilization) * window)
    return Pace(interval, slack)


def scaled(limits: RateLimits, share: float) -> RateLimits:
    """``limits`` with every figure multiplied by ``share`` (one worker's part of a shared budget)."""
    brand = limits.brand_per_minute
    return RateLimits(
        brand_per_minute=None if brand is None else brand * share,
        endpoints={key: per_minute * share for key, per_minute in limits},
        include_defaults=False,
        window_seconds=limits.window_seconds,
    )
