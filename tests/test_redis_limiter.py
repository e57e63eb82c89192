"""RedisRateLimiter against a real redis-server: one budget for many workers (A2, A5, A6, A7, H1).

Every test uses its own namespace, so they can share one server; the outage tests start
their own. Workers are separate limiter instances with their own Redis connections (and,
for the clock test, separate processes with skewed clocks): all they share is Redis.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import json
import logging
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from qualtrics_async import QualtricsClient, RateLimits, RedisRateLimiter
from qualtrics_async.errors import ConfigurationError, RateLimiterUnavailableError
from qualtrics_async.testing import QualtricsEmulator, RedisServer, max_in_window
from tests.conftest import REQUIRE_REDIS, make_client, need_redis_server

pytestmark = pytest.mark.redis

EXPORT = "POST /surveys/{surveyId}/export-responses"
EXPORT_PATH = "/surveys/SV_1/export-responses"
WORKER = Path(__file__).resolve().parent / "redis_worker.py"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may stop and restart."""
    need_redis_server()
    with RedisServer() as server:
        yield server


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[Redis]:
    """A plain redis-py client, to look at the limiter's state the way an operator would."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _namespace() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def _limits(brand: float = 100, export: float = 20, window: float = 1.0) -> RateLimits:
    return RateLimits(brand_per_minute=brand, endpoints={EXPORT: export}, include_defaults=False, window_seconds=window)


async def _grant_times(limiter: RedisRateLimiter, method: str, path: str, n: int) -> list[float]:
    times: list[float] = []
    for _ in range(n):
        await limiter.acquire(method, path)
        times.append(time.monotonic())
    return times


# -- one budget for many workers -------------------------------------------------------------------


async def test_A6_three_workers_share_one_brand_budget_against_the_emulator(redis_url: str) -> None:
    """Three clients at full concurrency, each with its own limiter: together they stay under one limit."""
    table = RateLimits(brand_per_minute=60, include_defaults=False, window_seconds=1.0)
    namespace = _namespace()
    async with QualtricsEmulator(seed=1, rate_limits=table, limit_mode="sliding") as emulator:
        limiters = [RedisRateLimiter(redis_url, namespace=namespace, limits=table) for _ in range(3)]
        clients = [make_client(emulator, limiter=limiter) for limiter in limiters]
        started = time.monotonic()

        async def caller(client: QualtricsClient) -> None:
            while time.monotonic() - started < 3.0:
                await client.request("GET", "/whoami")

        for client in clients:
            await client.open()
        async with asyncio.TaskGroup() as tg:
            for client in clients:
                for _ in range(20):
                    tg.create_task(caller(client))
        for client in clients:
            await client.aclose()
        for limiter in limiters:
            await limiter.aclose()
        admitted = sorted(t for t, _m, path, status in emulator.stats.log if status == 200 and "/whoami" in path)
    assert emulator.stats.throttled == 0
    assert max_in_window(admitted, 1.0) <= 60
    steady = [t for t in admitted if admitted[0] + 0.5 <= t < admitted[-1] - 0.5]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert rate >= 0.85 * 60, rate  # 0.95 of the limit is the pace; one worker alone would also be held to it


async def test_A5_brand_and_endpoint_keys_are_taken_together_across_workers(redis_url: str) -> None:
    """Two workers mixing export starts and other calls: every key holds its limit in every window."""
    namespace = _namespace()
    a = RedisRateLimiter(redis_url, namespace=namespace, limits=_limits())
    b = RedisRateLimiter(redis_url, namespace=namespace, limits=_limits())
    brand: list[float] = []
    exports: list[float] = []

    async def call(limiter: RedisRateLimiter, export: bool) -> None:
        await limiter.acquire("POST" if export else "GET", EXPORT_PATH if export else "/surveys/SV_1")
        now = time.monotonic()
        brand.append(now)
        if export:
            exports.append(now)

    async with a, b, asyncio.TaskGroup() as tg:
        for i in range(150):
            tg.create_task(call(a if i % 2 else b, export=i % 3 == 0))
    assert len(exports) == 50
    assert max_in_window(brand, 1.0) <= 100
    assert max_in_window(exports, 1.0) <= 20
    # Spaced by the export row's interval (52.6 ms), whichever worker sent; a grant may come up to the
    # pacer's slack (12.5 ms) early after a late one, so only the mean gap is held to the full interval.
    gaps = [later - earlier for earlier, later in itertools.pairwise(exports)]
    assert min(gaps) >= 0.5 / (20 * 0.95)
    assert (exports[-1] - exports[0]) / len(gaps) >= 0.95 / (20 * 0.95)
    # The export row binds: 50 exports at 19/s take at least 2.6 s. Grants are not queued across workers: an
    # export start competes for each brand slot with the other calls' heads, so it may lose a few of them.
    assert 2.3 <= exports[-1] - exports[0] <= 4.0


async def test_A5_a_refused_request_consumes_nothing_on_any_key(redis_url: str, raw_redis: Redis) -> None:
    """An export start held back by one of its keys takes nothing from the other while it waits."""
    namespace = _namespace()
    a = RedisRateLimiter(redis_url, namespace=namespace, limits=_limits())
    b = RedisRateLimiter(redis_url, namespace=namespace, limits=_limits())
    brand, export = a.redis_key("brand"), a.redis_key(EXPORT)
    async with a, b:
        await a.acquire("POST", EXPORT_PATH)  # both keys exist now
        # The export row paused: the brand key is left alone while the export start waits.
        await a.throttled("POST", EXPORT_PATH, retry_after=1.0)
        before = await raw_redis.hget(brand, "tat")
        waiting = asyncio.create_task(b.acquire("POST", EXPORT_PATH))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        assert await raw_redis.hget(brand, "tat") == before
        # The brand budget is all there for calls that do not need the paused row.
        brand_only = await _grant_times(a, "GET", "/whoami", 20)
        assert brand_only[-1] - brand_only[0] < 0.4  # 20 grants at 95/s: ~0.2 s
        after_brand_only = await raw_redis.hget(brand, "tat")
        await waiting
        assert await raw_redis.hget(brand, "tat") != after_brand_only  # granted: it took its brand slot too
        # The other way round: the brand key paused leaves the export row alone.
        await a.throttled("GET", "/whoami", retry_after=0.6)
        before = await raw_redis.hget(export, "tat")
        waiting = asyncio.create_task(b.acquire("POST", EXPORT_PATH))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        assert await raw_redis.hget(export, "tat") == before
        await waiting
        assert await raw_redis.hget(export, "tat") != before


async def test_keys_are_bounded_and_share_one_hash_tag(redis_url: str, raw_redis: Redis) -> None:
    """Calls for many surveys leave one key per limit, named by template, never by id."""
    namespace = _namespace()
    async with RedisRateLimiter(redis_url, namespace=namespace, limits=_limits(brand=1000, export=500)) as limiter:
        for i in range(30):
            await limiter.acquire("POST", f"/surveys/SV_{i:04d}/export-responses")
            await limiter.acquire("GET", f"/surveys/SV_{i:04d}")
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in await raw_redis.keys(f"qa:{{{namespace}}}:*"))
    assert keys == [f"qa:{{{namespace}}}:brand", f"qa:{{{namespace}}}:route:{EXPORT}", f"qa:{{{namespace}}}:workers"]
    assert not any("SV_" in key for key in keys)
    assert all(key.split("{", 1)[1].split("}", 1)[0] == namespace for key in keys)  # the Cluster hash tag


async def test_the_script_runs_on_a_redis_cluster(tmp_path: Path) -> None:
    """A one-node Redis Cluster: the brand and endpoint keys sit in one slot, so one script takes both."""
    need_redis_server()
    from redis.asyncio.cluster import RedisCluster

    config = tmp_path / "nodes.conf"
    with RedisServer(args=["--cluster-enabled", "yes", "--cluster-config-file", str(config)]) as server:
        admin = Redis.from_url(server.url)
        await admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)  # type: ignore[no-untyped-call]
        for _ in range(100):
            if b"cluster_state:ok" in await admin.execute_command("CLUSTER", "INFO"):  # type: ignore[no-untyped-call]
                break
            await asyncio.sleep(0.05)
        await admin.aclose()
        cluster = RedisCluster(host="127.0.0.1", port=server.port)
        try:
            async with RedisRateLimiter(cluster, namespace="brand-1", limits=_limits()) as limiter:
                times = await _grant_times(limiter, "POST", EXPORT_PATH, 3)
                assert not limiter.using_fallback
                assert times[2] - times[0] >= 2 / 20 * 0.9  # paced by the export row
        finally:
            await cluster.aclose()


# -- clocks ------------------------------------------------------------------------------------------


async def test_a_redis_clock_stepped_back_does_not_stall_every_worker(redis_url: str, raw_redis: Redis) -> None:
    """State written ahead of Redis' clock by more than any grant can be (its clock stepped back an hour) is reset."""
    async with RedisRateLimiter(redis_url, namespace=_namespace(), limits=_limits()) as limiter:
        await limiter.acquire("GET", "/whoami")
        seconds, micros = await raw_redis.time()
        an_hour_ahead = seconds - 1_735_689_600 + micros / 1e6 + 3600  # the script's epoch is 2025-01-01
        await raw_redis.hset(limiter.redis_key("brand"), "tat", f"{an_hour_ahead:.6f}")
        async with asyncio.timeout(2):  # not the hour
            await limiter.acquire("GET", "/whoami")


def _libfaketime() -> str | None:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


async def test_A6_workers_with_skewed_clocks_share_one_budget(redis_url: str) -> None:
    """Three worker processes whose clocks are hours apart (libfaketime) still share one budget exactly.

    Grants are decided on Redis' clock (``TIME`` in the script), so a worker's own clock
    only times its sleeps; a limiter that compared the workers' wall clocks would let the
    one living two hours ahead send at will.
    """
    library = _libfaketime()
    if library is None:
        message = "libfaketime is not installed (apt-get install faketime; .ci/run installs it)"
        if REQUIRE_REDIS:
            pytest.fail(message)
        pytest.skip(message)
    table = RateLimits(brand_per_minute=60, include_defaults=False, window_seconds=1.0)
    skews = {"+2h": 7200.0, "-3h": -10800.0, "+0": 0.0}
    async with QualtricsEmulator(seed=1, rate_limits=table, limit_mode="sliding") as emulator:
        config = {
            "redis": redis_url,
            "namespace": _namespace(),
            "brand": 60,
            "window": 1.0,
            "token": emulator.api_token,
            "base_url": emulator.base_url,
            "duration": 3.0,
            "concurrency": 10,
        }
        workers = []
        for skew in skews:
            env = {**os.environ, "LD_PRELOAD": library, "FAKETIME": skew}
            workers.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(WORKER),
                    json.dumps(config),
                    env=env,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        try:
            for worker, offset in zip(workers, skews.values(), strict=True):
                assert worker.stdout is not None
                ready = json.loads(await asyncio.wait_for(worker.stdout.readline(), 30))
                assert abs(ready["clock"] - time.time() - offset) < 60  # the skew is real
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write(b"go\n")
                await worker.stdin.drain()
            summaries = []
            for worker in workers:
                assert worker.stdout is not None
                summaries.append(json.loads(await asyncio.wait_for(worker.stdout.readline(), 30)))
                assert await worker.wait() == 0
        finally:
            for worker in workers:
                if worker.returncode is None:
                    worker.kill()
                    await worker.wait()
        admitted = sorted(t for t, _m, path, status in emulator.stats.log if status == 200 and "/whoami" in path)
    assert all(summary["errors"] == 0 and summary["calls"] > 20 for summary in summaries), summaries
    assert emulator.stats.throttled == 0
    assert max_in_window(admitted, 1.0) <= 60
    steady = [t for t in admitted if admitted[0] + 0.5 <= t < admitted[-1] - 0.5]
    assert (len(steady) - 1) / (steady[-1] - steady[0]) >= 0.85 * 60


# -- cancellation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["url", "client"])
async def test_A7_H1_a_waiter_cancelled_at_any_moment_stops(redis_url: str, given: str) -> None:
    """Tasks cancelled at random moments of their acquire loop (queued, in a Redis call, asleep) all stop.

    On Python 3.11 a cancellation that lands as a redis-py command completes used to be lost
    (inside ``asyncio.wait_for``): the task then waited for its slot and went on sending. A
    client passed in keeps redis-py's default socket timeout, so it takes that path.
    """
    routes = [f"/surveys/{{surveyId}}/{name}" for name in ("a", "b", "c", "d", "e", "f")]
    limits = RateLimits(
        brand_per_minute=2000,
        endpoints={f"GET {route}": 300 for route in routes},
        include_defaults=False,
        window_seconds=1.0,
    )
    paths = [route.replace("{surveyId}", "SV_1") for route in routes]
    rng = random.Random(7)
    client = Redis.from_url(redis_url)
    for _round in range(25):
        source: str | Redis = redis_url if given == "url" else client
        async with RedisRateLimiter(source, namespace=_namespace(), limits=limits) as limiter:

            async def loop(path: str, limiter: RedisRateLimiter = limiter) -> None:
                while True:
                    await limiter.acquire("GET", path)

            tasks = [asyncio.create_task(loop(paths[i % len(paths)])) for i in range(60)]
            await asyncio.sleep(rng.uniform(0.02, 0.12))
            for task in tasks:
                task.cancel()
            done, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()  # a second request, so the test itself ends
            assert not pending, f"round {_round}: {len(pending)} cancelled waiters went on"
            assert all(task.cancelled() for task in done)
    await client.aclose()


# -- 429 feedback: shared cooldown and AIMD ------------------------------------------------------------


async def test_A2_a_429_seen_by_one_worker_pauses_every_worker(redis_url: str) -> None:
    namespace = _namespace()
    a = RedisRateLimiter(redis_url, namespace=namespace, limits=_limits())
    b = RedisRateLimiter(redis_url, namespace=namespace, limits=_limits())
    async with a, b:
        await b.acquire("GET", "/whoami")
        started = time.monotonic()
        await a.throttled("GET", "/whoami", retry_after=0.6)
        await b.acquire("GET", "/whoami")
        assert time.monotonic() - started >= 0.55  # b never saw the 429, yet waited out its Retry-After


async def test_A2_shared_slowdown_once_per_window_then_additive_recovery(
    redis_url: str, raw_redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """429s from two workers in one window halve the shared pace once; clean windows give 10 % back each."""
    namespace = _namespace()
    limits = _limits(window=0.5)
    a = RedisRateLimiter(redis_url, namespace=namespace, limits=limits)
    b = RedisRateLimiter(redis_url, namespace=namespace, limits=limits)
    async with a, b:
        with caplog.at_level(logging.WARNING, logger="qualtrics_async"):
            await a.throttled("POST", EXPORT_PATH, retry_after=None)
            await b.throttled("POST", EXPORT_PATH, retry_after=None)  # same window: no second cut
        key = a.redis_key(EXPORT)
        assert float(await raw_redis.hget(key, "mult") or 0) == pytest.approx(0.5)
        assert sum("now paces" in r.getMessage() for r in caplog.records) == 1  # one worker says so, once
        # Half pace for everyone: b's export starts are spaced by twice the interval.
        times = await _grant_times(b, "POST", EXPORT_PATH, 4)
        interval = 0.5 / (20 * 0.95)
        gaps = [y - x for x, y in itertools.pairwise(times)]
        assert min(gaps[1:]) >= 1.5 * interval  # half pace: 2 intervals apart, less the slack at most
        # Recovery: +0.1 per clean window, seen by any worker, never above the configured rate.
        await asyncio.sleep(0.55)
        await a.acquire("POST", EXPORT_PATH)
        assert float(await raw_redis.hget(key, "mult") or 0) == pytest.approx(0.6)
        for _ in range(8):
            await asyncio.sleep(0.55)
            await b.acquire("POST", EXPORT_PATH)
        assert float(await raw_redis.hget(key, "mult") or 0) == pytest.approx(1.0)


async def test_A2_client_429_reaches_the_shared_limiter(redis_url: str, raw_redis: Redis) -> None:
    """A 429 answered to one client (Retry-After: 1) holds back another client's requests for that second."""
    namespace = _namespace()
    async with QualtricsEmulator(seed=1, rate_limits=None) as emulator:
        emulator.inject("GET", "/whoami", status=429, retry_after="1")
        limits = _limits()
        async with (
            RedisRateLimiter(redis_url, namespace=namespace, limits=limits) as la,
            RedisRateLimiter(redis_url, namespace=namespace, limits=limits) as lb,
            make_client(emulator, limiter=la) as first,
            make_client(emulator, limiter=lb) as second,
        ):
            retried = asyncio.create_task(first.request("GET", "/whoami"))  # a 429, then a retry after 1 s
            async with asyncio.timeout(5):  # until the first client has reported the 429 to Redis
                while not await raw_redis.hget(la.redis_key("brand"), "until"):  # noqa: ASYNC110 - nothing to await
                    await asyncio.sleep(0.005)
            await second.request("GET", "/surveys")
            await retried
        log = list(emulator.stats.log)
    throttled_at = next(t for t, _m, _p, status in log if status == 429)
    surveys_at = next(t for t, _m, path, _s in log if path.endswith("/surveys"))
    assert surveys_at - throttled_at >= 0.95  # the second client waited out a Retry-After it never saw
    assert [status for *_rest, status in log].count(429) == 1


# -- Redis down --------------------------------------------------------------------------------------


async def test_redis_unreachable_at_start_falls_back_to_a_share_of_the_limits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing listens on the port: no hang, a warning, and this worker paces at 1/expected_workers."""
    closed = RedisServer()  # a free port, never started
    limiter = RedisRateLimiter(closed.url, namespace=_namespace(), limits=_limits(), expected_workers=4)
    with caplog.at_level(logging.WARNING, logger="qualtrics_async"):
        started = time.monotonic()
        await limiter.acquire("GET", "/whoami")
        assert time.monotonic() - started < 1.0
        times = await _grant_times(limiter, "GET", "/whoami", 6)
    assert limiter.using_fallback
    messages = [r.getMessage() for r in caplog.records]
    assert any("unreachable" in m and "1/4" in m and str(closed.port) in m for m in messages), messages
    interval = 1.0 / (100 / 4 * 0.95)  # a quarter of the brand limit
    assert (times[-1] - times[0]) / (len(times) - 1) >= interval * 0.9  # the mean gap: 4x the full-rate one
    await limiter.aclose()


async def test_redis_unreachable_with_raise_policy_fails_the_call_before_sending() -> None:
    closed = RedisServer()
    url = f"redis://worker:s3cret-redis-pass@127.0.0.1:{closed.port}/0"
    limiter = RedisRateLimiter(url, namespace=_namespace(), limits=_limits(), when_unavailable="raise")
    assert "s3cret-redis-pass" not in repr(limiter)
    async with QualtricsEmulator(seed=1) as emulator, make_client(emulator, limiter=limiter) as client:
        with pytest.raises(RateLimiterUnavailableError) as caught:
            await client.request("GET", "/whoami")
        assert emulator.stats.requests == 0
    error = caught.value
    assert error.may_have_taken_effect is False
    text = str(error)
    assert f"127.0.0.1:{closed.port}" in text
    assert "when_unavailable='local'" in text
    assert "s3cret-redis-pass" not in text
    assert "s3cret-redis-pass" not in repr(error)
    await limiter.aclose()


async def test_redis_restart_mid_run_falls_back_then_returns_to_the_shared_budget(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisRateLimiter(
        own_redis.url, namespace=_namespace(), limits=_limits(), expected_workers=2, recheck_after=0.3
    )
    observer = Redis.from_url(own_redis.url)
    with caplog.at_level(logging.WARNING, logger="qualtrics_async"):
        await _grant_times(limiter, "GET", "/whoami", 5)
        assert await observer.exists(limiter.redis_key("brand"))
        own_redis.stop()
        started = time.monotonic()
        during = await _grant_times(limiter, "GET", "/whoami", 10)
        assert limiter.using_fallback
        assert during[-1] - started < 2.0  # no hang: about 10 grants at half the rate
        mean_gap = (during[-1] - during[0]) / (len(during) - 1)
        assert mean_gap >= 1.0 / (50 * 0.95) * 0.9  # 1/2 of the brand limit while alone
        own_redis.start()  # empty: nothing persisted
        await observer.aclose()
        observer = Redis.from_url(own_redis.url)
        await asyncio.sleep(0.35)
        await _grant_times(limiter, "GET", "/whoami", 3)
        assert not limiter.using_fallback
        assert await observer.exists(limiter.redis_key("brand"))  # back on the shared budget
    messages = [r.getMessage() for r in caplog.records]
    assert any("unreachable" in m for m in messages)
    assert any("answers again" in m for m in messages)
    await observer.aclose()
    await limiter.aclose()


async def test_a_hung_redis_costs_one_timeout_then_the_fallback_paces(own_redis: RedisServer) -> None:
    """Redis frozen (SIGSTOP: connections open, no answer): no hang; back to shared once it thaws."""
    limiter = RedisRateLimiter(
        own_redis.url, namespace=_namespace(), limits=_limits(), expected_workers=2, recheck_after=0.3
    )
    async with limiter:
        await _grant_times(limiter, "GET", "/whoami", 3)
        own_redis.pause()
        try:
            started = time.monotonic()
            await _grant_times(limiter, "GET", "/whoami", 5)
            assert time.monotonic() - started < 0.5 + 1.0  # one redis_timeout (0.5 s), then local pacing
            assert limiter.using_fallback
        finally:
            own_redis.resume()
        await asyncio.sleep(0.35)
        await _grant_times(limiter, "GET", "/whoami", 2)
        assert not limiter.using_fallback


def test_a_limiter_serves_one_event_loop_after_another(redis_url: str) -> None:
    """Closed at the end of one ``asyncio.run`` and used again under the next: it reconnects."""
    limiter = RedisRateLimiter(redis_url, namespace=_namespace(), limits=_limits())

    async def use() -> bool:
        async with limiter:
            await limiter.acquire("GET", "/whoami")
            await limiter.acquire("POST", EXPORT_PATH)
            return limiter.using_fallback

    assert asyncio.run(use()) is False
    assert asyncio.run(use()) is False


def test_a_redis_client_of_another_loop_is_refused_clearly(redis_url: str) -> None:
    async def first_loop() -> tuple[RedisRateLimiter, Redis]:
        client = Redis.from_url(redis_url)
        limiter = RedisRateLimiter(client, namespace=_namespace(), limits=_limits())
        await limiter.acquire("GET", "/whoami")
        await client.aclose()  # the caller's to close, in its own loop
        return limiter, client

    limiter, _client = asyncio.run(first_loop())

    async def second_loop() -> None:
        with pytest.raises(ConfigurationError, match="another event loop"):
            await limiter.acquire("GET", "/whoami")

    asyncio.run(second_loop())


def test_a_password_in_the_url_query_stays_secret(caplog: pytest.LogCaptureFixture) -> None:
    closed = RedisServer()
    limiter = RedisRateLimiter(
        f"redis://127.0.0.1:{closed.port}/0?password=hunter2-query", namespace=_namespace(), limits=_limits()
    )
    assert "hunter2-query" not in repr(limiter)

    async def use() -> None:
        with caplog.at_level(logging.DEBUG, logger="qualtrics_async"):
            await limiter.acquire("GET", "/whoami")  # Redis unreachable: the fallback warning names the URL
        await limiter.aclose()

    asyncio.run(use())
    assert caplog.records
    assert all("hunter2-query" not in record.getMessage() for record in caplog.records)


# -- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", ["", "a{b}", "has space"])
def test_a_namespace_that_breaks_the_hash_tag_is_refused(namespace: str) -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        RedisRateLimiter("redis://127.0.0.1:6379/0", namespace=namespace)


def test_a_non_redis_url_is_refused_without_echoing_its_password() -> None:
    with pytest.raises(ConfigurationError, match="not a Redis URL") as caught:
        RedisRateLimiter("http://user:hunter22@example.com/")
    assert "hunter22" not in str(caught.value)
