"""Shared fixtures: the bundled emulator over loopback, and clients pointed at it."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from qualtrics_async import QualtricsClient, RetryPolicy, Timeouts
from qualtrics_async.testing import QualtricsEmulator, RedisServer, find_redis_server

TOKEN = "emulator-token"  # the emulator's default API token

FAST_RETRY = RetryPolicy(base_delay=0.01, throttle_base_delay=0.01, max_delay=0.05)
"""Real retry logic with tiny waits, so fault tests run fast."""

FAST_TIMEOUTS = Timeouts(connect=2.0, sock_read=2.0, attempt=3.0, call=20.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def emulator() -> AsyncIterator[QualtricsEmulator]:
    """An emulator on a free loopback port, seeded, enforcing the published limits."""
    async with QualtricsEmulator(seed=1) as emu:
        yield emu


def make_client(emu: QualtricsEmulator, **overrides: Any) -> QualtricsClient:
    """A client for ``emu`` with fast retries and short timeouts (overridable)."""
    kwargs: dict[str, Any] = {
        "base_url": emu.base_url,
        "retry": FAST_RETRY,
        "timeouts": FAST_TIMEOUTS,
        "env": {},
    }
    if "client_id" not in overrides and "api_token" not in overrides:
        kwargs["api_token"] = TOKEN
    kwargs.update(overrides)
    return QualtricsClient(**kwargs)


@pytest.fixture
async def client(emulator: QualtricsEmulator) -> AsyncIterator[QualtricsClient]:
    async with make_client(emulator) as c:
        yield c


@pytest.fixture
def server_stays_quiet(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """For tests that break answers on purpose: neither aiohttp nor asyncio may log an error about them.

    Use it with ``pytestmark = pytest.mark.usefixtures("server_stays_quiet")``.
    """
    yield
    records = caplog.get_records("setup") + caplog.get_records("call") + caplog.records  # + teardown
    noisy = [r for r in records if r.levelno >= logging.WARNING and r.name.split(".")[0] in {"aiohttp", "asyncio"}]
    assert not noisy, [r.getMessage() for r in noisy]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, for raw requests to the emulator."""
    async with aiohttp.ClientSession() as session:
        yield session


REQUIRE_REDIS = os.environ.get("QUALTRICS_ASYNC_REQUIRE_REDIS") == "1"
"""Set by .ci/run: a missing redis-server (or libfaketime) fails the Redis tests instead of skipping them."""


REQUIRE_TOOLS = os.environ.get("QUALTRICS_ASYNC_REQUIRE_TOOLS") == "1"
"""Set by .ci/run: a missing system tool a test needs (openssl) fails the test instead of skipping it."""


def need_tool(command: str, package: str) -> None:
    """Skip the calling test when ``command`` is not installed (fail under REQUIRE_TOOLS, as in CI)."""
    if shutil.which(command) is None:
        message = f"the {command} command is needed (apt-get install {package}; .ci/run installs it)"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)


def need_redis_server() -> None:
    """Skip the calling test when Debian's redis-server is not installed (fail under REQUIRE_REDIS)."""
    if find_redis_server() is None:
        message = "redis-server is not installed (apt-get install redis-server; .ci/run installs it)"
        if REQUIRE_REDIS:
            pytest.fail(message)
        pytest.skip(message)


def _ping(url: str) -> None:
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            answer = sock.recv(16)
    except OSError as exc:
        pytest.fail(f"QUALTRICS_ASYNC_TEST_REDIS_URL={url} does not answer: {exc}")
    if not answer.startswith(b"+PONG"):
        pytest.fail(f"QUALTRICS_ASYNC_TEST_REDIS_URL={url} answered {answer!r} to PING")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis for the Redis tests: QUALTRICS_ASYNC_TEST_REDIS_URL (CI's server) or a throwaway one.

    Tests share it, each under its own namespace.
    """
    url = os.environ.get("QUALTRICS_ASYNC_TEST_REDIS_URL")
    if url:
        _ping(url)  # else every limiter would quietly fall back and the tests prove nothing
        yield url
        return
    need_redis_server()
    with RedisServer() as server:
        yield server.url
