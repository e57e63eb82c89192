"""Client-side rate limiting: the limits table and the limiters that enforce it."""

from qualtrics_async._ratelimit._limits import RateLimits, Route, normalize_path
from qualtrics_async._ratelimit._local import DEFAULT_UTILIZATION, LocalRateLimiter, RateLimiter

__all__ = ["DEFAULT_UTILIZATION", "LocalRateLimiter", "RateLimiter", "RateLimits", "Route", "normalize_path"]
