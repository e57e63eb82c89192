"""qualtrics-async: the asyncio-first client for the Qualtrics REST API v3.

Start with :class:`QualtricsClient`; errors live in :mod:`qualtrics_async.errors`, typed
models in :mod:`qualtrics_async.models`, and the bundled emulator for tests in
:mod:`qualtrics_async.testing`.
"""

from qualtrics_async import errors
from qualtrics_async._client import QualtricsClient
from qualtrics_async._config import KNOWN_DATACENTERS, RetryPolicy, SizeLimits, Timeouts
from qualtrics_async._ratelimit import LocalRateLimiter, RateLimiter, RateLimits, RedisRateLimiter
from qualtrics_async._sansio import build_path
from qualtrics_async._version import __version__
from qualtrics_async.errors import QualtricsError
from qualtrics_async.pagination import Page

__all__ = [
    "KNOWN_DATACENTERS",
    "LocalRateLimiter",
    "Page",
    "QualtricsClient",
    "QualtricsError",
    "RateLimiter",
    "RateLimits",
    "RedisRateLimiter",
    "RetryPolicy",
    "SizeLimits",
    "Timeouts",
    "__version__",
    "build_path",
    "errors",
]
