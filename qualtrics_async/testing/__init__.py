"""Test helpers: a Qualtrics v3 API emulator you can point any client at.

``QualtricsEmulator`` serves the Qualtrics REST API v3 over real loopback HTTP: the JSON
envelope, API-token and OAuth client-credentials auth, offset and skipToken pagination,
response exports (start, poll, download: ZIP or raw, byte ranges; generated responses,
continuation tokens, failed/stalled jobs, broken downloads), server-side rate limits
from the published table, and scripted faults (5xx, 429 with any
``Retry-After``, HTML proxy pages, dropped, truncated, dripping or hanging responses)::

    from qualtrics_async.testing import QualtricsEmulator

    async with QualtricsEmulator(seed=1) as emulator:
        emulator.inject("GET", "/surveys", status=503)   # the next list call fails once
        ...  # point a client at emulator.api_url with X-API-TOKEN: emulator.api_token

Where a body recorded from a live tenant exists (``tests/recordings``), the emulator answers
with its shape, and ``tests/test_emulator_contract.py`` keeps the two from drifting apart
(``docs/fidelity.md`` lists which families rest on recordings). Options reproduce what
recordings show on demand: ``proxied_host`` (the "Request proxied" ``meta.notice`` on every
answer, and with ``proxy_next_pages`` a ``nextPage`` naming that host) and ``csv_bom`` (the
older export files that started with a byte-order mark).

From synchronous code or another event loop use ``QualtricsEmulator.in_thread()``; in pytest
use the ``qualtrics_emulator`` fixture (registered automatically, see ``pytest_plugin``).
Run one from a shell with ``python -m qualtrics_async.testing``. ``RedisServer`` starts a
throwaway ``redis-server`` on loopback for tests of ``RedisRateLimiter``.
"""

from qualtrics_async.testing._directory import ContactImportInfo, DirectoryRoutes
from qualtrics_async.testing._emulator import EXPORT_FILES, EmulatorStats, QualtricsEmulator, max_in_window
from qualtrics_async.testing._exports import ExportJobInfo, ExportStats
from qualtrics_async.testing._faults import Fault
from qualtrics_async.testing._redis_server import RedisServer, find_redis_server

__all__ = [
    "EXPORT_FILES",
    "ContactImportInfo",
    "DirectoryRoutes",
    "EmulatorStats",
    "ExportJobInfo",
    "ExportStats",
    "Fault",
    "QualtricsEmulator",
    "RedisServer",
    "find_redis_server",
    "max_in_window",
]
