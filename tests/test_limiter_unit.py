"""The in-process pacer on its own: spacing per key, atomic brand+endpoint grants, cancellation (A1, A5, A7, H1)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import anyio
import pytest

from qualtrics_async import LocalRateLimiter, RateLimits
from qualtrics_async.testing import max_in_window

EXPORT = "POST /surveys/{surveyId}/export-responses"


def _limits() -> RateLimits:
    # Per 1 s window: brand 100, export start 20 (the same shape as 3000/min and 100/min).
    return RateLimits(brand_per_minute=100, endpoints={EXPORT: 20}, include_defaults=False, window_seconds=1.0)


async def test_A1_no_first_window_burst() -> None:
    limiter = LocalRateLimiter(_limits())
    grants: list[float] = []

    async def one() -> None:
        await limiter.acquire("GET", "/whoami")
        grants.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        for _ in range(150):
            tg.start_soon(one)
    # 95 % of 100/s: the first 0.5 s admits about 48, never the ~100 an empty bucket would;
    # no 1 s window holds more than the limit, and the pace stays near 95 % of it.
    first = grants[0]
    assert sum(1 for t in grants if t - first < 0.5) <= 50
    assert 85 <= max_in_window(grants, 1.0) <= 100


async def test_A5_endpoint_and_brand_keys_are_granted_together() -> None:
    limiter = LocalRateLimiter(_limits())
    export_grants: list[float] = []
    other_grants: list[float] = []

    async def export() -> None:
        await limiter.acquire("POST", "/surveys/SV_1/export-responses")
        export_grants.append(time.monotonic())

    async def other() -> None:
        await limiter.acquire("GET", "/surveys/SV_1")
        other_grants.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        for i in range(90):
            tg.start_soon(export if i % 3 == 0 else other)
    assert len(export_grants) == 30
    assert len(other_grants) == 60
    export_interval = 1.0 / (20 * 0.95)
    gaps = [b - a for a, b in itertools.pairwise(sorted(export_grants))]
    # Spaced on the endpoint key, no bunching after brand waits: a grant may be a little late
    # for its slot (timer lateness), never early, so no gap falls far below one interval.
    assert min(gaps) >= export_interval * 0.5
    assert sum(gaps) / len(gaps) >= export_interval * 0.98
    brand_interval = 1.0 / (100 * 0.95)
    everything = sorted(export_grants + other_grants)
    brand_gaps = [b - a for a, b in itertools.pairwise(everything)]
    assert min(brand_gaps) >= brand_interval * 0.5
    assert max_in_window(export_grants, 1.0) <= 20
    assert max_in_window(everything, 1.0) <= 100
    # The slow endpoint's queue does not hold back the others: they finish first.
    assert max(other_grants) < max(export_grants)


async def test_A7_cancelled_waiters_leak_no_capacity() -> None:
    limiter = LocalRateLimiter(_limits())
    await limiter.acquire("POST", "/surveys/SV_1/export-responses")  # key now busy for ~53 ms

    async def waiter() -> None:
        await limiter.acquire("POST", "/surveys/SV_1/export-responses")

    with anyio.move_on_after(0.01):
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(waiter)
    # 100 cancelled waiters must not push the next grant 100 intervals away (~5 s).
    started = time.monotonic()
    await limiter.acquire("POST", "/surveys/SV_1/export-responses")
    assert time.monotonic() - started < 0.5


async def test_H1_cancellation_while_waiting_on_the_limiter_is_prompt() -> None:
    limiter = LocalRateLimiter(_limits())
    await limiter.throttled("GET", "/whoami", retry_after=30.0)  # the brand key pauses for 30 s
    started = time.monotonic()
    with anyio.move_on_after(0.1) as scope:
        await limiter.acquire("GET", "/whoami")
    assert scope.cancelled_caught
    assert time.monotonic() - started < 1.0


async def test_A2_retry_after_pauses_every_caller_of_the_key() -> None:
    limiter = LocalRateLimiter(_limits())
    await limiter.throttled("POST", "/surveys/SV_1/export-responses", retry_after=0.3)
    started = time.monotonic()
    await limiter.acquire("POST", "/surveys/SV_2/export-responses")
    assert time.monotonic() - started >= 0.29
    # The brand key was not paused: other endpoints go at once.
    started = time.monotonic()
    await limiter.acquire("GET", "/whoami")
    assert time.monotonic() - started < 0.1


async def test_A3_throttle_halves_the_rate_once_per_window_then_recovers() -> None:
    limiter = LocalRateLimiter(_limits())
    await limiter.throttled("POST", "/surveys/SV_1/export-responses", retry_after=None)
    await limiter.throttled("POST", "/surveys/SV_1/export-responses", retry_after=None)  # same window: ignored
    assert limiter.rate_multiplier("POST", "/surveys/SV_1/export-responses") == pytest.approx(0.5)
    await asyncio.sleep(1.05)  # one clean window
    await limiter.acquire("POST", "/surveys/SV_1/export-responses")
    assert limiter.rate_multiplier("POST", "/surveys/SV_1/export-responses") == pytest.approx(0.6)


async def test_unlimited_limits_never_wait() -> None:
    limiter = LocalRateLimiter(RateLimits.unlimited())
    started = time.monotonic()
    for _ in range(1000):
        await limiter.acquire("GET", "/whoami")
    assert time.monotonic() - started < 1.0


def test_rate_limits_table_routes_templates_not_ids() -> None:
    limits = RateLimits()
    route = limits.route("GET", "/API/v3/surveys/SV_abc/export-responses/ES_1")
    assert route.key == "GET /surveys/{surveyId}/export-responses/{exportProgressId}"
    assert route.per_minute == 1000
    assert limits.route("GET", "/surveys/SV_1/export-responses/F_1/file").per_minute == 100
    assert limits.route("GET", "/directories/POOL_1/contacts/optedOutContacts").key == (
        "GET /directories/{directoryId}/contacts/optedOutContacts"
    )
    assert limits.route("GET", "/no/such/endpoint").key is None
    assert limits.brand_per_minute == 3000


def test_rate_limits_entries_can_be_overridden_removed_and_added() -> None:
    limits = RateLimits(
        brand_per_minute=1500,
        endpoints={EXPORT: 50, "GET /surveys/{surveyId}/export-responses/{exportProgressId}": None, "GET /x/{id}": 7},
    )
    assert limits.route("POST", "/surveys/SV_1/export-responses").per_minute == 50
    assert limits.route("GET", "/surveys/SV_1/export-responses/ES_1").key is None
    assert limits.route("GET", "/x/1").per_minute == 7
    with pytest.raises(ValueError, match="METHOD /path"):
        RateLimits(endpoints={"surveys": 5})
    with pytest.raises(ValueError, match="positive"):
        RateLimits(endpoints={EXPORT: 0})


async def test_A3_recovery_waits_for_a_whole_window_after_the_last_429() -> None:
    limiter = LocalRateLimiter(_limits())
    path = "/surveys/SV_1/export-responses"
    await limiter.throttled("POST", path, retry_after=None)  # halves the rate
    await asyncio.sleep(0.6)
    await limiter.throttled("POST", path, retry_after=None)  # same window: no second cut, but the clock restarts
    assert limiter.rate_multiplier("POST", path) == pytest.approx(0.5)
    await asyncio.sleep(0.5)  # 1.1 s after the first 429, only 0.5 s after the last
    await limiter.acquire("POST", path)
    assert limiter.rate_multiplier("POST", path) == pytest.approx(0.5)
    await asyncio.sleep(0.6)
    await limiter.acquire("POST", path)
    assert limiter.rate_multiplier("POST", path) == pytest.approx(0.6)


async def test_A1_A7_randomised_stress_never_exceeds_any_window() -> None:
    """Mixed endpoints, cancelled waiters and 429 feedback: no window ever holds more than a limit."""
    rows = {EXPORT: 20, "GET /surveys/{surveyId}": 40}
    limits = RateLimits(brand_per_minute=100, endpoints=rows, include_defaults=False, window_seconds=1.0)
    limiter = LocalRateLimiter(limits, utilization=1.0)  # no headroom: the invariant must hold exactly
    rng = random.Random(7)
    grants: dict[str, list[float]] = {"brand": [], EXPORT: [], "GET /surveys/{surveyId}": []}
    calls = [("POST", "/surveys/SV_1/export-responses"), ("GET", "/surveys/SV_2"), ("GET", "/whoami")]

    async def one(method: str, path: str, patience: float) -> None:
        with anyio.move_on_after(patience):
            await limiter.acquire(method, path)
            now = time.monotonic()
            grants["brand"].append(now)
            route = limits.route(method, path).key
            if route in grants:
                grants[route].append(now)
            if rng.random() < 0.02:
                await limiter.throttled(method, path, retry_after=None)

    async with anyio.create_task_group() as tg:
        for _ in range(400):
            method, path = rng.choice(calls)
            tg.start_soon(one, method, path, rng.uniform(0.05, 2.5))
            if rng.random() < 0.1:
                await anyio.sleep(0.01)
    assert len(grants["brand"]) > 100
    assert max_in_window(grants["brand"], 1.0) <= 100
    assert max_in_window(grants[EXPORT], 1.0) <= 20
    assert max_in_window(grants["GET /surveys/{surveyId}"], 1.0) <= 40
