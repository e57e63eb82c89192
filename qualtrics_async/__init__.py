"""qualtrics-async: the asyncio-first client for the Qualtrics REST API v3."""

from qualtrics_async._ratelimit import RateLimits

__version__ = "0.1.0.dev0"

__all__ = ["RateLimits", "__version__"]
