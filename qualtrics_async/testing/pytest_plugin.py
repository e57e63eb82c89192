"""pytest plugin: the ``qualtrics_emulator`` fixture.

Registered through the ``pytest11`` entry point when ``qualtrics-async`` is installed, so
any project's test suite can use it without imports. The fixture is function-scoped and
synchronous: it runs a fresh :class:`~qualtrics_async.testing.QualtricsEmulator` (default
options: seed 0, the published rate-limit table) on its own event loop in a background
thread, so it works in plain sync tests and under any async test framework::

    import aiohttp

    async def test_lists_surveys(qualtrics_emulator):
        emulator = qualtrics_emulator
        emulator.inject("GET", "/surveys", status=503)        # first call fails once
        headers = {"X-API-TOKEN": emulator.api_token}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(emulator.api_url + "/surveys") as resp:
                assert resp.status == 503
            async with http.get(emulator.api_url + "/surveys") as resp:
                body = await resp.json()
        assert [s["id"] for s in body["result"]["elements"]] == [s["id"] for s in emulator.data.surveys]

For other options (a seed, smaller limits, OAuth settings) use
``QualtricsEmulator.in_thread(...)`` in your own fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qualtrics_async.testing._emulator import QualtricsEmulator


@pytest.fixture
def qualtrics_emulator() -> Iterator[QualtricsEmulator]:
    """A started Qualtrics API emulator running in a background thread (see module docs)."""
    with QualtricsEmulator.in_thread() as emulator:
        yield emulator
