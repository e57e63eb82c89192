"""Shared budget: four worker processes under one brand limit, one Redis limiter vs a local limiter each.

Run from the repository root::

    .venv/bin/python -m benchmarks.shared_budget [--quick] [--strict]

The emulator runs in this process and enforces one brand-wide limit, ``brand`` requests per
``window`` seconds, as a strict sliding window (a request is refused with 429 when the
trailing window already holds ``brand`` admitted requests). The window is shrunk so a run
takes seconds: ``RateLimits(brand_per_minute=brand, include_defaults=False,
window_seconds=window)``, the same table in the emulator and in every worker.

Four worker processes (multiprocessing "spawn", started once and reused; the emulator keeps
serving while this process waits for them from a thread) each open a ``QualtricsClient``
and, from a common start instant (an absolute ``time.time()`` sent to every worker), run
``concurrency`` tasks that loop ``await client.request("GET", "/whoami")`` until a common
stop instant, when the tasks are cancelled (each task also checks the clock before every
call, so one whose cancellation was swallowed below ``client.request`` would still stop;
such tasks are counted and reported). A call that raises ``QualtricsError`` (a 429 the
client gave up on) is counted and the task goes on. Two modes, the same client defaults
otherwise (utilization 0.95, default retries: a 429 is retried after its Retry-After):

* shared: ``limiter=RedisRateLimiter(server.url, namespace=<fresh per run>, limits=table)``
  against one throwaway ``redis-server`` on loopback (``qualtrics_async.testing.RedisServer``);
* independent: ``rate_limits=table``, so each worker paces itself with its own
  ``LocalRateLimiter``, believing it has the whole budget (the problem the shared limiter
  solves). Together they start at four times the limit; the 429s then pause each worker
  (Retry-After) and slow it (AIMD), which the library logs as warnings on stderr, so
  the overshoot shows most in the first window and in the 429 count.

Everything is measured from the emulator's request log, never from the workers' clocks
(the start instant is converted to the emulator's ``time.monotonic()``; rates count the
requests that arrived between the start and the stop): admitted (200) requests per second
over the allowed rate (``brand / window``), over the steady part (the run without its first
and last window) and over the whole run; requests sent (any answer) per second over the
allowed rate, and in the first window; the number of 429 answers; the most admitted
requests in any window against the limit. The workers report their calls that
completed and those that raised. For the shared mode, the Redis server's own command
counters (``INFO commandstats``) give the limiter's round trips per admitted request. Runs
are interleaved (shared, independent, shared, ...) with a fresh emulator and a fresh
namespace each; the summary is the median of the runs (429s and failed calls: the total;
max/window: the worst).

Targets (shared): achieved / allowed >= 0.9 over the steady part, zero 429s, no window over
the limit. The independent mode has no target; its overshoot and its 429s are printed next
to the shared mode's, with one check that it did draw 429s (else the comparison shows
nothing). Without ``redis-server`` (Debian's package) the benchmark says so and fails.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal

if __package__ in (None, ""):  # run as a file: python benchmarks/shared_budget.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import multiprocessing

from benchmarks._common import LOOPBACK, Options, Verdicts, finish, main_entry, median, print_header, stop_child, table
from qualtrics_async import LocalRateLimiter, QualtricsClient, QualtricsError, RateLimits, RedisRateLimiter
from qualtrics_async.testing import QualtricsEmulator, RedisServer, find_redis_server

TOKEN = "benchmark-token"  # a fake credential for a loopback server
API_PREFIX = "/API/v3"
TARGET_RATIO = 0.9
UTILIZATION = 0.95  # the client's default
START_MARGIN = 0.5  # seconds between sending a run to the workers and its start instant
SPAWN = multiprocessing.get_context("spawn")

Mode = Literal["shared", "independent"]
MODES: tuple[Mode, ...] = ("shared", "independent")


@dataclass(frozen=True, slots=True)
class Plan:
    window: float  # seconds
    brand: int  # brand-wide requests per window
    windows: int  # run length, in windows
    workers: int  # worker processes
    concurrency: int  # tasks per worker
    repeats: int  # runs per mode

    @property
    def duration(self) -> float:
        return self.windows * self.window

    @property
    def allowed_rate(self) -> float:
        return self.brand / self.window

    def limits(self) -> RateLimits:
        return RateLimits(brand_per_minute=self.brand, include_defaults=False, window_seconds=self.window)


FULL = Plan(window=1.0, brand=200, windows=8, workers=4, concurrency=50, repeats=3)
QUICK = Plan(window=0.5, brand=100, windows=6, workers=4, concurrency=25, repeats=1)


# --- the workers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """One run, as sent to every worker."""

    mode: Mode
    base_url: str
    redis_url: str
    namespace: str
    window: float
    brand: int
    concurrency: int
    start_at: float  # time.time()
    stop_at: float  # time.time()


@dataclass(frozen=True, slots=True)
class WorkerResult:
    completed: int  # calls that returned
    failed: int  # calls that raised QualtricsError
    errors: dict[str, int]  # failed calls by exception type
    late: float  # seconds the worker was ready after the start instant (<= 0: on time)
    pace: float  # the local limiter's AIMD multiplier at the end (1.0: full rate; shared mode: 1.0)
    lost: int  # tasks that went on after task.cancel() at the stop (a cancellation swallowed below)


async def _work(job: Job) -> WorkerResult:
    limits = RateLimits(brand_per_minute=job.brand, include_defaults=False, window_seconds=job.window)
    completed = failed = lost = 0
    errors: Counter[str] = Counter()
    async with AsyncExitStack() as stack:
        if job.mode == "shared":
            limiter = await stack.enter_async_context(
                RedisRateLimiter(job.redis_url, namespace=job.namespace, limits=limits)
            )
            client = QualtricsClient(api_token=TOKEN, base_url=job.base_url, env={}, limiter=limiter)
        else:
            client = QualtricsClient(api_token=TOKEN, base_url=job.base_url, env={}, rate_limits=limits)
        await stack.enter_async_context(client)
        late = time.time() - job.start_at
        await asyncio.sleep(max(0.0, -late))

        async def loop() -> None:
            nonlocal completed, failed, lost
            while time.time() < job.stop_at:  # a task whose cancellation got lost still stops
                try:
                    await client.request("GET", "/whoami")
                    completed += 1
                except QualtricsError as exc:
                    failed += 1
                    errors[type(exc).__name__] += 1
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                lost += 1  # cancelled, yet it went on to finish its call (the cancellation was swallowed)

        tasks = [asyncio.create_task(loop()) for _ in range(job.concurrency)]
        await asyncio.sleep(max(0.0, job.stop_at - time.time()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        local = client.limiter
        pace = local.rate_multiplier("GET", "/whoami") if isinstance(local, LocalRateLimiter) else 1.0
    return WorkerResult(completed, failed, dict(errors), late, pace, lost)


def _worker_process(conn: Connection) -> None:
    """Run jobs from the pipe until ``"stop"``; answer each with a :class:`WorkerResult`."""
    conn.send("up")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if not isinstance(message, Job):
            return
        conn.send(asyncio.run(_work(message)))


def _recv(conn: Connection, timeout: float) -> Any:
    if not conn.poll(timeout):
        raise RuntimeError(f"a worker process did not answer within {timeout:g} s")
    return conn.recv()


def _expect(conn: Connection, expected: str, timeout: float) -> None:
    answer = _recv(conn, timeout)
    if answer != expected:
        raise RuntimeError(f"a worker process answered {answer!r} instead of {expected!r}")


@dataclass(slots=True)
class Workers:
    """The worker processes and their pipes."""

    pairs: list[tuple[Connection, BaseProcess]]

    @classmethod
    async def start(cls, count: int) -> Workers:
        pairs: list[tuple[Connection, BaseProcess]] = []
        for index in range(count):
            parent_end, child_end = SPAWN.Pipe()
            process = SPAWN.Process(
                target=_worker_process, args=(child_end,), name=f"bench-worker-{index}", daemon=True
            )
            process.start()
            child_end.close()
            pairs.append((parent_end, process))
        workers = cls(pairs)
        try:
            for conn, _process in pairs:
                await asyncio.to_thread(_expect, conn, "up", 60)
        except BaseException:
            await asyncio.to_thread(workers.stop)
            raise
        return workers

    async def run(self, job: Job, timeout: float) -> list[WorkerResult]:
        for conn, _process in self.pairs:
            conn.send(job)
        results = []
        for conn, _process in self.pairs:  # waited from a thread: the emulator keeps serving meanwhile
            result = await asyncio.to_thread(_recv, conn, timeout)
            if not isinstance(result, WorkerResult):
                raise TypeError(f"a worker process answered {result!r}")
            results.append(result)
        return results

    def stop(self) -> None:
        for conn, process in self.pairs:
            stop_child(conn, process)


# --- measuring -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    sent: int  # API requests the emulator received between the start and the stop (any answer)
    admitted: int  # of those, admitted (200)
    throttled: int  # 429 answers (all, the few after the stop too)
    other_errors: int  # answers other than 200, 429 and none (a call cancelled at the stop)
    completed: int  # calls that returned, summed over the workers
    failed_calls: int  # calls that raised, summed over the workers
    first_window_sent: int  # requests (any answer) arriving in the first window
    max_admitted: int  # most admitted requests in any window
    steady: float  # admitted rate over the steady part / allowed rate
    overall: float  # admitted rate over the whole run / allowed rate
    sent_ratio: float  # requests sent per second over the whole run / allowed rate
    redis_calls: int | None  # limiter scripts Redis ran (shared mode)
    late: float  # the latest a worker was ready after the start instant (s)
    pace: float  # the lowest AIMD multiplier a worker's local limiter ended at
    lost: int  # tasks, over all workers, that went on after being cancelled at the stop
    errors: dict[str, int]


def outcome(
    emulator: QualtricsEmulator,
    plan: Plan,
    start: float,
    results: Sequence[WorkerResult],
    redis_calls: int | None,
) -> Outcome:
    """The figures of one run; ``start`` is the start instant on the emulator's clock (``time.monotonic``)."""
    log = emulator.stats.log.copy()
    every = [entry for entry in log if entry[2].startswith(API_PREFIX + "/")]
    api = [entry for entry in every if start <= entry[0] < start + plan.duration]
    admitted = [t for t, _m, _p, status in api if status == 200]
    low, high = start + plan.window, start + plan.duration - plan.window
    inside = sum(1 for t in admitted if low <= t < high)
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result.errors)
    return Outcome(
        sent=len(api),
        admitted=len(admitted),
        throttled=sum(1 for entry in every if entry[3] == 429),
        other_errors=sum(1 for entry in every if entry[3] not in (200, 429, 0)),
        completed=sum(r.completed for r in results),
        failed_calls=sum(r.failed for r in results),
        first_window_sent=sum(1 for entry in api if entry[0] < start + plan.window),
        max_admitted=emulator.stats.max_in_window(plan.window),
        steady=(inside / (high - low)) / plan.allowed_rate,
        overall=(len(admitted) / plan.duration) / plan.allowed_rate,
        sent_ratio=(len(api) / plan.duration) / plan.allowed_rate,
        redis_calls=redis_calls,
        late=max(r.late for r in results),
        pace=min(r.pace for r in results),
        lost=sum(r.lost for r in results),
        errors=dict(errors),
    )


async def redis_script_calls(url: str) -> int:
    """How many Lua scripts (``EVALSHA`` + ``EVAL``) the Redis server has run so far."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))


async def run_once(mode: Mode, plan: Plan, workers: Workers, redis_url: str) -> Outcome:
    limits = plan.limits()
    async with QualtricsEmulator(
        host=LOOPBACK, port=0, seed=1, api_token=TOKEN, rate_limits=limits, limit_mode="sliding"
    ) as emulator:
        calls_before = await redis_script_calls(redis_url) if mode == "shared" else 0
        offset = time.time() - time.monotonic()  # the emulator stamps arrivals with time.monotonic()
        start_at = time.time() + START_MARGIN
        job = Job(
            mode=mode,
            base_url=emulator.base_url,
            redis_url=redis_url,
            namespace=f"bench-{secrets.token_hex(6)}",
            window=plan.window,
            brand=plan.brand,
            concurrency=plan.concurrency,
            start_at=start_at,
            stop_at=start_at + plan.duration,
        )
        results = await workers.run(job, timeout=START_MARGIN + plan.duration + 60)
        redis_calls = await redis_script_calls(redis_url) - calls_before if mode == "shared" else None
        return outcome(emulator, plan, start_at - offset, results, redis_calls)


def _row(name: str, o: Outcome, plan: Plan) -> tuple[str, ...]:
    per_grant = "–" if o.redis_calls is None or not o.admitted else f"{o.redis_calls / o.admitted:.2f}"
    return (
        name,
        f"{o.sent}",
        f"{o.admitted}",
        f"{o.throttled}",
        f"{o.failed_calls}",
        f"{o.first_window_sent}/{plan.brand}",
        f"{o.max_admitted}/{plan.brand}",
        f"{o.sent_ratio:.3f}",
        f"{o.overall:.3f}",
        f"{o.steady:.3f}",
        per_grant,
    )


HEADERS = (
    "mode",
    "sent",
    "admitted",
    "429s",
    "failed",
    "1st window sent",
    "max/window",
    "sent/allowed",
    "achieved all",
    "achieved steady",
    "Redis calls/grant",
)


def summarize(outcomes: list[Outcome]) -> Outcome:
    """Median of each figure over the runs; 429s, errors and failures summed; max/window the maximum."""
    calls = [o.redis_calls for o in outcomes if o.redis_calls is not None]
    errors: Counter[str] = Counter()
    for o in outcomes:
        errors.update(o.errors)
    return Outcome(
        sent=round(median([o.sent for o in outcomes])),
        admitted=round(median([o.admitted for o in outcomes])),
        throttled=sum(o.throttled for o in outcomes),
        other_errors=sum(o.other_errors for o in outcomes),
        completed=round(median([o.completed for o in outcomes])),
        failed_calls=sum(o.failed_calls for o in outcomes),
        first_window_sent=round(median([o.first_window_sent for o in outcomes])),
        max_admitted=max(o.max_admitted for o in outcomes),
        steady=median([o.steady for o in outcomes]),
        overall=median([o.overall for o in outcomes]),
        sent_ratio=median([o.sent_ratio for o in outcomes]),
        redis_calls=round(median(calls)) if calls else None,
        late=max(o.late for o in outcomes),
        pace=median([o.pace for o in outcomes]),
        lost=sum(o.lost for o in outcomes),
        errors=dict(errors),
    )


def _redis_versions() -> str:
    """redis-py's version and the redis-server binary's (``redis-server --version``)."""
    try:
        client = importlib.metadata.version("redis")
    except importlib.metadata.PackageNotFoundError:
        client = "not installed"
    executable = find_redis_server()
    server = "not installed"
    if executable is not None:
        try:
            out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        server = next((word[2:] for word in out.split() if word.startswith("v=")), "unknown")
    return f"redis-py {client}, redis-server {server}"


def _missing_redis() -> str | None:
    """Why the shared mode cannot run here, or ``None``."""
    if find_redis_server() is None:
        return "redis-server is not installed: install Debian's redis-server: apt-get install redis-server"
    if importlib.util.find_spec("redis") is None:
        return "redis-py is not installed: pip install 'qualtrics-async[redis]'"
    return None


async def amain(options: Options) -> int:
    plan = QUICK if options.quick else FULL
    print_header(
        "shared_budget: 4 worker processes under one brand limit, one Redis limiter vs a local limiter each",
        options,
        notes=(
            f"window shrunk to {plan.window:g} s: brand {plan.brand}/window (allowed {plan.allowed_rate:g} "
            f"requests/s), no endpoint rows; the emulator (in this process, on {LOOPBACK}) enforces it as a "
            "strict sliding window and answers 429 beyond",
            f"{plan.workers} worker processes (spawn), each a QualtricsClient with {plan.concurrency} tasks looping "
            f"GET /whoami for {plan.duration:g} s ({plan.windows} windows) from a common start instant; "
            f"utilization {UTILIZATION} and default retries (a 429 is retried after its Retry-After)",
            "shared: limiter=RedisRateLimiter(url, namespace=<fresh per run>, limits=table) on one local "
            "redis-server; independent: rate_limits=table (a LocalRateLimiter per worker, each with the whole budget)",
            "columns: 1st window sent = requests (any answer) arriving in the first window / limit; "
            "sent/allowed = requests received (any answer) per second / allowed rate; achieved = admitted "
            "requests per second / allowed rate, over the whole run (all) and without its first and last window "
            "(steady); max/window = most admitted requests in any window / limit; failed = calls that raised "
            "(a 429 the client gave up on); Redis calls/grant = limiter scripts Redis ran / admitted requests",
            f"{plan.repeats} interleaved run(s) per mode, a fresh emulator and namespace each; summary = median "
            "(429s, failed: total; max/window: worst)",
            _redis_versions(),
        ),
    )
    verdicts = Verdicts()
    missing = _missing_redis()
    if missing is not None:
        print(f"cannot run the shared mode: {missing}")
        verdicts.check(f"shared limiter measured (needs redis-server and redis-py): {missing}", False)
        return finish(verdicts, options)

    runs: dict[Mode, list[Outcome]] = {mode: [] for mode in MODES}
    rows = []
    with RedisServer() as server:
        workers = await Workers.start(plan.workers)
        try:
            for index in range(plan.repeats):
                for mode in MODES:
                    result = await run_once(mode, plan, workers, server.url)
                    runs[mode].append(result)
                    rows.append(_row(f"{mode} #{index + 1}", result, plan))
        finally:
            await asyncio.to_thread(workers.stop)
    print()
    print("every run:")
    table(HEADERS, rows)
    print()
    print(f"summary ({'median of ' + str(plan.repeats) + ' runs' if plan.repeats > 1 else 'one run'}):")
    shared, independent = summarize(runs["shared"]), summarize(runs["independent"])
    table(HEADERS, [_row("shared (one Redis limiter)", shared, plan), _row("independent", independent, plan)])
    print()
    print(
        f"independent / shared: sent {independent.sent_ratio / shared.sent_ratio:.2f}x, "
        f"admitted (steady) {independent.steady / shared.steady:.2f}x, "
        f"429s {independent.throttled} vs {shared.throttled}"
    )
    for mode, summary in (("shared", shared), ("independent", independent)):
        if summary.errors:
            kinds = ", ".join(f"{name} x {count}" for name, count in sorted(summary.errors.items()))
            print(f"{mode}: failed calls by error: {kinds}")
        if summary.lost:
            print(
                f"{mode}: {summary.lost} task(s) over {plan.repeats} run(s) went on after task.cancel() at the stop "
                "(the cancellation was swallowed below client.request; they stopped at their loop's time check)"
            )
        if summary.late > 0:
            print(f"{mode}: a worker was ready {summary.late * 1000:.0f} ms after the start instant")
    print()
    runs_note = f"over {plan.repeats} run(s)"
    verdicts.check(
        f"shared: achieved/allowed (steady) = {shared.steady:.3f} (target >= {TARGET_RATIO})",
        shared.steady >= TARGET_RATIO,
    )
    verdicts.check(f"shared: 429 answers = {shared.throttled} {runs_note} (target 0)", shared.throttled == 0)
    verdicts.check(
        f"shared: max admitted in any window = {shared.max_admitted}/{plan.brand} (target <= limit)",
        shared.max_admitted <= plan.brand,
    )
    print(
        f"independent (no target): 1st window sent = {independent.first_window_sent}/{plan.brand}, "
        f"sent/allowed = {independent.sent_ratio:.2f}, achieved/allowed (steady) = {independent.steady:.3f}, "
        f"429 answers = {independent.throttled}, failed calls = {independent.failed_calls} {runs_note}; "
        f"the slowest worker's local limiter ended the run at {independent.pace:.0%} of its rate (AIMD after 429s)"
    )
    verdicts.check(
        f"independent limiters drew 429s (the problem the shared limiter solves): {independent.throttled} (target > 0)",
        independent.throttled > 0,
    )
    return finish(verdicts, options)


def run(options: Options) -> int:
    return asyncio.run(amain(options))


if __name__ == "__main__":
    main_entry(run, "One Redis-shared rate budget for 4 worker processes vs an independent local limiter each.")
