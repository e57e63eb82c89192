"""Limiter accuracy: a burst against an emulator that enforces the limits, ours vs aiolimiter.

Run from the repository root::

    .venv/bin/python -m benchmarks.limiter_accuracy [--quick] [--strict]

The emulator enforces a rate-limit table as a strict sliding window (a request is refused
with 429 when the trailing window already holds ``limit`` admitted requests), on the
brand-wide key and on the endpoint's own row. The client and the baselines are given the
same table. The window is shrunk so the run takes seconds: the published table with
per-minute figures applied per ``window`` seconds, the brand ceiling lowered to a few
hundred, and ``GET /surveys/{surveyId}`` given a row of its own five times lower than the
brand (both keys bind at once).

Each run fires the whole burst at once: ``windows`` x the brand limit requests, every fifth
one a ``GET /surveys/{surveyId}`` and the rest ``GET /whoami``, as concurrent tasks over one
pool of 100 connections. Clients:

* ours: ``QualtricsClient(rate_limits=table)`` (default utilization 0.95, default retries);
* (a) ``aiolimiter.AsyncLimiter(N, window)`` per key, the classic recipe, raw aiohttp;
* (b) ``aiolimiter.AsyncLimiter(1, window / N)`` per key (no burst), raw aiohttp.

The baselines acquire the endpoint limiter, then the brand limiter, before each send, and
retry a 429 through the limiters (up to 10 attempts), so every client completes the burst.
Everything is measured from the emulator's request log: the 429 count, the requests sent
in the first window, the most admitted requests in any window (brand key and endpoint row)
against the limit, and the achieved rate of admitted requests over the limit, overall and
over the steady part (excluding the first and last window). Runs are interleaved (ours,
(a), (b), ours, ...) with a fresh emulator each; the summary is the median of the runs
(429s: the total).

Target (ours): achieved / allowed >= 0.9 over the steady part, on the brand key and on the
endpoint row, with zero 429s and no window over its limit.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/limiter_accuracy.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import msgspec
from aiolimiter import AsyncLimiter

from benchmarks._common import LOOPBACK, Options, Verdicts, finish, main_entry, median, print_header, table
from qualtrics_async import QualtricsClient, QualtricsError, RateLimits, build_path
from qualtrics_async.testing import QualtricsEmulator, max_in_window

SURVEY_KEY = "GET /surveys/{surveyId}"
TOKEN = "benchmark-token"  # a fake credential for a loopback server
POOL_SIZE = 100  # the client's default pool_size, and aiohttp's default connector limit
BASELINE_ATTEMPTS = 10
TARGET_RATIO = 0.9
API_PREFIX = "/API/v3"


@dataclass(frozen=True, slots=True)
class Plan:
    window: float  # seconds
    brand: int  # brand-wide requests per window
    row: int  # GET /surveys/{surveyId} requests per window
    windows: int  # burst size = windows x brand
    repeats: int

    @property
    def total(self) -> int:
        return self.windows * self.brand

    @property
    def every(self) -> int:
        return self.brand // self.row

    def limits(self) -> RateLimits:
        return RateLimits(brand_per_minute=self.brand, endpoints={SURVEY_KEY: self.row}, window_seconds=self.window)


FULL = Plan(window=1.0, brand=300, row=60, windows=4, repeats=3)
QUICK = Plan(window=0.5, brand=150, row=30, windows=4, repeats=1)


@dataclass(frozen=True, slots=True)
class Outcome:
    wall: float
    sent: int
    admitted: int
    throttled: int
    other_errors: int
    failed_calls: int
    first_window_sent: int
    max_brand: int
    max_row: int
    brand_overall: float
    brand_steady: float | None
    row_overall: float
    row_steady: float | None


Runner = Callable[[QualtricsEmulator, Plan, list[str]], Awaitable[int]]


# --- the clients ------------------------------------------------------------------------------


async def run_ours(emulator: QualtricsEmulator, plan: Plan, paths: list[str]) -> int:
    """The burst through QualtricsClient; returns the number of calls that raised."""
    failed = 0
    async with QualtricsClient(
        api_token=TOKEN, base_url=emulator.base_url, rate_limits=plan.limits(), env={}
    ) as client:

        async def one(path: str) -> None:
            nonlocal failed
            try:
                await client.request("GET", path)
            except QualtricsError:
                failed += 1

        async with asyncio.TaskGroup() as tg:
            for path in paths:
                tg.create_task(one(path))
    return failed


def aiolimiter_runner(make: Callable[[int, float], AsyncLimiter]) -> Runner:
    """A baseline: raw aiohttp, one aiolimiter per key (endpoint row first, then the brand)."""

    async def run(emulator: QualtricsEmulator, plan: Plan, paths: list[str]) -> int:
        brand = make(plan.brand, plan.window)
        row = make(plan.row, plan.window)
        decoder = msgspec.json.Decoder()
        headers = {"X-API-TOKEN": TOKEN}
        failed = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL_SIZE)) as http:

            async def one(path: str) -> None:
                nonlocal failed
                url = emulator.api_url + path
                for _attempt in range(BASELINE_ATTEMPTS):
                    if path.startswith("/surveys/"):
                        await row.acquire()
                    await brand.acquire()
                    async with http.get(url, headers=headers) as resp:
                        body = await resp.read()
                        status = resp.status
                    if status == 200:
                        decoder.decode(body)
                        return
                    if status != 429:
                        break
                failed += 1

            async with asyncio.TaskGroup() as tg:
                for path in paths:
                    tg.create_task(one(path))
        return failed

    return run


CLIENTS: dict[str, Runner] = {
    "ours: QualtricsClient": run_ours,
    "(a) AsyncLimiter(N, window)": aiolimiter_runner(lambda n, window: AsyncLimiter(n, window)),
    "(b) AsyncLimiter(1, window/N)": aiolimiter_runner(lambda n, window: AsyncLimiter(1, window / n)),
}
OURS = "ours: QualtricsClient"


# --- measuring --------------------------------------------------------------------------------


def rate_ratio(times: Sequence[float], per_window: int, window: float) -> float:
    """Achieved rate of ``times`` (sorted: n requests over n-1 intervals) over the allowed rate."""
    if len(times) < 2 or times[-1] <= times[0]:
        return float("nan")
    return ((len(times) - 1) / (times[-1] - times[0])) / (per_window / window)


def steady_ratio(times: Sequence[float], per_window: int, window: float) -> float | None:
    """The same, counting only ``[first + window, last - window)``; ``None`` when that is under a window."""
    if not times:
        return None
    low, high = times[0] + window, times[-1] - window
    if high - low < window:
        return None
    inside = sum(1 for t in times if low <= t < high)
    return (inside / (high - low)) / (per_window / window)


def outcome(emulator: QualtricsEmulator, plan: Plan, wall: float, failed: int) -> Outcome:
    log = sorted(emulator.stats.log.copy())
    api = [entry for entry in log if entry[2].startswith(API_PREFIX + "/")]
    admitted = [t for t, _m, _p, status in api if status == 200]
    admitted_row = [t for t, _m, path, status in api if status == 200 and path.startswith(API_PREFIX + "/surveys/")]
    start = api[0][0] if api else 0.0
    return Outcome(
        wall=wall,
        sent=len(api),
        admitted=len(admitted),
        throttled=sum(1 for entry in api if entry[3] == 429),
        other_errors=sum(1 for entry in api if entry[3] not in (200, 429)),
        failed_calls=failed,
        first_window_sent=sum(1 for entry in api if entry[0] < start + plan.window),
        max_brand=emulator.stats.max_in_window(plan.window),
        max_row=max_in_window(admitted_row, plan.window),
        brand_overall=rate_ratio(admitted, plan.brand, plan.window),
        brand_steady=steady_ratio(admitted, plan.brand, plan.window),
        row_overall=rate_ratio(admitted_row, plan.row, plan.window),
        row_steady=steady_ratio(admitted_row, plan.row, plan.window),
    )


async def run_once(runner: Runner, plan: Plan) -> Outcome:
    limits = plan.limits()
    async with QualtricsEmulator(
        host=LOOPBACK, port=0, seed=1, api_token=TOKEN, rate_limits=limits, limit_mode="sliding"
    ) as emulator:
        survey_ids = [survey["id"] for survey in emulator.data.surveys]
        paths = [
            build_path("/surveys/{surveyId}", surveyId=survey_ids[i % len(survey_ids)])
            if i % plan.every == 0
            else "/whoami"
            for i in range(plan.total)
        ]
        deadline = 10 * plan.windows * plan.window + 30  # a bound, far above the expected time
        started = time.perf_counter()
        async with asyncio.timeout(deadline):
            failed = await runner(emulator, plan, paths)
        wall = time.perf_counter() - started
        return outcome(emulator, plan, wall, failed)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _row(name: str, o: Outcome, plan: Plan) -> tuple[str, ...]:
    return (
        name,
        f"{o.sent}",
        f"{o.throttled}",
        f"{o.failed_calls}",
        f"{o.first_window_sent}/{plan.brand}",
        f"{o.max_brand}/{plan.brand}",
        f"{o.max_row}/{plan.row}",
        _ratio(o.brand_overall),
        _ratio(o.brand_steady),
        _ratio(o.row_overall),
        _ratio(o.row_steady),
        f"{o.wall:.2f}",
    )


HEADERS = (
    "client",
    "sent",
    "429s",
    "failed",
    "1st window sent",
    "max/window brand",
    "max/window row",
    "brand all",
    "brand steady",
    "row all",
    "row steady",
    "wall s",
)


def _median_opt(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def summarize(outcomes: list[Outcome]) -> Outcome:
    """Median of each figure over the runs; 429s, errors and failures summed; max/window the maximum."""
    return Outcome(
        wall=median([o.wall for o in outcomes]),
        sent=round(median([o.sent for o in outcomes])),
        admitted=round(median([o.admitted for o in outcomes])),
        throttled=sum(o.throttled for o in outcomes),
        other_errors=sum(o.other_errors for o in outcomes),
        failed_calls=sum(o.failed_calls for o in outcomes),
        first_window_sent=round(median([o.first_window_sent for o in outcomes])),
        max_brand=max(o.max_brand for o in outcomes),
        max_row=max(o.max_row for o in outcomes),
        brand_overall=median([o.brand_overall for o in outcomes]),
        brand_steady=_median_opt([o.brand_steady for o in outcomes]),
        row_overall=median([o.row_overall for o in outcomes]),
        row_steady=_median_opt([o.row_steady for o in outcomes]),
    )


async def amain(options: Options) -> int:
    plan = QUICK if options.quick else FULL
    print_header(
        "limiter_accuracy: a burst against an emulator enforcing the limits (strict sliding window)",
        options,
        notes=(
            f"window shrunk to {plan.window:g} s: the same table with per-minute figures applied per "
            f"{plan.window:g} s; brand {plan.brand}/window, {SURVEY_KEY} {plan.row}/window "
            f"(every {plan.every}th request), other rows as published (all above the brand ceiling here)",
            f"burst: {plan.total} requests at once ({plan.windows} windows' worth of the brand limit: "
            f"{plan.total // plan.every} GET /surveys/{{id}} + {plan.total - plan.total // plan.every} GET /whoami), "
            f"pool of {POOL_SIZE} connections, emulator and clients on one event loop, all on {LOOPBACK}",
            "ours paces at utilization 0.95 (the default); the baselines use the limits as given and retry "
            f"429s through their limiters (up to {BASELINE_ATTEMPTS} attempts)",
            "columns: 1st window sent = requests (any answer) arriving in the first window / brand limit; "
            "max/window = most admitted requests in any window / limit; brand/row all = achieved rate of "
            "admitted requests over the whole run / allowed rate; steady = the same without the first and "
            "last window",
            f"{plan.repeats} interleaved run(s) per client, a fresh emulator each; summary = median "
            "(429s, failed: total; max/window: worst)",
        ),
    )
    runs: dict[str, list[Outcome]] = {name: [] for name in CLIENTS}
    rows = []
    for index in range(plan.repeats):
        for name, runner in CLIENTS.items():
            result = await run_once(runner, plan)
            runs[name].append(result)
            rows.append(_row(f"{name} #{index + 1}", result, plan))
    print()
    print("every run:")
    table(HEADERS, rows)
    print()
    print(f"summary ({'median of ' + str(plan.repeats) + ' runs' if plan.repeats > 1 else 'one run'}):")
    summaries = {name: summarize(outcomes) for name, outcomes in runs.items()}
    table(HEADERS, [_row(name, s, plan) for name, s in summaries.items()])
    ours = summaries[OURS]
    print()
    verdicts = Verdicts()
    brand = ours.brand_steady if ours.brand_steady is not None else ours.brand_overall
    row = ours.row_steady if ours.row_steady is not None else ours.row_overall
    verdicts.check(f"ours, brand key: achieved/allowed (steady) = {brand:.3f} (target >= {TARGET_RATIO})", brand >= 0.9)
    verdicts.check(f"ours, endpoint row: achieved/allowed (steady) = {row:.3f} (target >= {TARGET_RATIO})", row >= 0.9)
    verdicts.check(f"ours: 429 answers = {ours.throttled} over {plan.repeats} run(s) (target 0)", ours.throttled == 0)
    verdicts.check(
        f"ours: max admitted in any window = {ours.max_brand}/{plan.brand} brand, {ours.max_row}/{plan.row} row "
        "(target <= limit)",
        ours.max_brand <= plan.brand and ours.max_row <= plan.row,
    )
    verdicts.check(
        f"ours: failed calls = {ours.failed_calls}, other error answers = {ours.other_errors} (target 0)",
        ours.failed_calls == 0 and ours.other_errors == 0,
    )
    return finish(verdicts, options)


def run(options: Options) -> int:
    return asyncio.run(amain(options))


if __name__ == "__main__":
    main_entry(run, "Achieved rate and 429s of a burst against server-enforced limits: ours vs aiolimiter.")
