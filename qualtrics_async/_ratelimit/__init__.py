"""Client-side rate limiting: the limits table and the limiters that enforce it."""

from qualtrics_async._ratelimit._limits import RateLimits, Route, normalize_path
from qualtrics_async._ratelimit._local import LocalRateLimiter, RateLimiter
from qualtrics_async._ratelimit._pacing import DEFAULT_UTILIZATION
from qualtrics_async._ratelimit._redis import RedisRateLimiter

__all__ = [
    "DEFAULT_UTILIZATION",
    "LocalRateLimiter",
    "RateLimiter",
    "RateLimits",
    "RedisRateLimiter",
    "Route",
    "normalize_path",
]
