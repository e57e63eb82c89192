"""The client's pacing against the emulator's server-side limits (A1, A3, A5, A6).

The emulator enforces the same table the client reads, as a strict sliding window: a
request is refused if the last `window` seconds already hold `limit` admitted requests.
The window is shrunk from 60 s to 1 s so the tests take seconds, not minutes.
"""

from __future__ import annotations

import itertools
import time

import anyio
import pytest

from qualtrics_async import LocalRateLimiter, RateLimits
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import make_client

SURVEY = "GET /surveys/{surveyId}"


@pytest.mark.parametrize("mode", ["sliding", "leaky"])
async def test_A1_2000_concurrent_requests_draw_zero_429s(mode: str) -> None:
    limits = RateLimits(brand_per_minute=600, window_seconds=1.0)
    async with (
        QualtricsEmulator(seed=1, rate_limits=limits, limit_mode=mode) as emulator,  # type: ignore[arg-type]
        make_client(emulator, rate_limits=limits) as client,
    ):
        done = 0

        async def call() -> None:
            nonlocal done
            await client.whoami()
            done += 1

        async with anyio.create_task_group() as tg:
            for _ in range(2000):
                tg.start_soon(call)
        assert done == 2000
        assert emulator.stats.throttled == 0
        assert emulator.stats.statuses[429] == 0
        # Never above the limit in any window, yet close to it: a pacer wasting a third of
        # the allowance would fail here.
        assert 0.85 * 600 <= emulator.stats.max_in_window(1.0) <= 600


async def test_A5_lower_endpoint_limit_is_respected_alongside_the_brand() -> None:
    limits = RateLimits(brand_per_minute=300, endpoints={SURVEY: 20}, window_seconds=1.0)
    async with (
        QualtricsEmulator(seed=1, rate_limits=limits) as emulator,
        make_client(emulator, rate_limits=limits) as client,
    ):
        survey_id = emulator.data.surveys[0]["id"]
        async with anyio.create_task_group() as tg:
            for _ in range(40):
                tg.start_soon(client.surveys.get, survey_id)
            for _ in range(300):
                tg.start_soon(client.whoami)
        assert emulator.stats.throttled == 0
        assert emulator.stats.by_route[SURVEY] == 40


async def test_A3_client_that_overestimates_the_limit_adapts_and_loses_nothing() -> None:
    server = RateLimits(brand_per_minute=100, window_seconds=1.0)
    believed = RateLimits(brand_per_minute=200, window_seconds=1.0)  # wrong table: 2x the real limit
    async with (
        QualtricsEmulator(seed=1, rate_limits=server, limit_mode="sliding") as emulator,
        make_client(emulator, rate_limits=believed) as client,
    ):
        results = []

        async def call() -> None:
            results.append(await client.whoami())

        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(call)
        assert len(results) == 200  # every call succeeded despite the 429s
        assert emulator.stats.throttled > 0
        # After the first throttle the pacer halves its rate to 95 req/s, under the real 100.
        assert emulator.stats.throttled < 120


async def test_A6_two_clients_sharing_a_brand_split_the_budget() -> None:
    limits = RateLimits(brand_per_minute=200, window_seconds=1.0)
    async with (
        QualtricsEmulator(seed=1, rate_limits=limits) as emulator,
        make_client(emulator, rate_limits=limits, utilization=0.45) as first,
        make_client(emulator, rate_limits=limits, utilization=0.45) as second,
    ):
        async with anyio.create_task_group() as tg:
            for _ in range(150):
                tg.start_soon(first.whoami)
                tg.start_soon(second.whoami)
        assert emulator.stats.throttled == 0


async def test_A1_when_connections_are_the_bottleneck_the_server_never_goes_quiet(emulator: QualtricsEmulator) -> None:
    # 5 connections and 0.2 s per answer: the pool, not the limiter, sets the pace (25/s).
    emulator.inject("GET", "/whoami", delay=0.2, times=10_000)
    async with make_client(emulator, pool_size=5) as client, anyio.create_task_group() as tg:
        for _ in range(60):
            tg.start_soon(client.whoami)
    arrivals = sorted(t for t, _m, path, _s in emulator.stats.log if path.endswith("/whoami"))
    assert len(arrivals) == 60
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) < 0.5  # requests keep flowing as connections free up
    assert emulator.stats.throttled == 0


async def test_A2_a_pause_survives_closing_and_reopening_the_client(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=429, retry_after="1")
    client = make_client(emulator)
    async with client:
        await client.whoami()  # 429, paused 1 s, retried
    started = time.monotonic()
    async with client:
        await client.whoami()
    assert time.monotonic() - started < 1.0  # the pause is over by now, and nothing waits needlessly
    limiter = client.limiter
    assert isinstance(limiter, LocalRateLimiter)
    assert limiter.rate_multiplier("GET", "/whoami") < 1.0  # the slowed pace was kept across reopening
