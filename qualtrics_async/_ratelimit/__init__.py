"""Client-side rate limiting: the limits table and the limiters that enforce it."""

from qualtrics_async._ratelimit._limits import RateLimits, Route, normalize_path

__all__ = ["RateLimits", "Route", "normalize_path"]
