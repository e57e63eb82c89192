"""PollSchedule (F2): when to poll an export's progress, checked on simulated jobs in virtual time.

Nothing sleeps and no wall clock is read: a job model (duration, progress curve, how the server
reports it) is run against the schedule, and the simulator returns how many polls it took, how
late the poll that saw ``complete`` was, and the smallest gap between two polls.

Run ``python tests/test_poll_schedule.py`` to print the (curve, duration, polls, delay) table.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qualtrics_async.exports._polling import PollSchedule

MIN_GAP = 0.5
CAP = 12.0  # the default max_idle_interval
JITTER = 0.2  # the +/-20 % the schedule applies to backoff delays
GRID = [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0]
SEEDS = range(25)

Curve = Callable[[float], float]  # fraction of the duration elapsed -> fraction of the work done


def _flat_then_linear(flat: float) -> Curve:
    return lambda x: max(0.0, (x - flat) / (1.0 - flat))


def _stall_in_the_middle(x: float) -> float:
    # 30 % done at 0.3, nothing until 0.6, then the remaining 70 % at a faster rate
    if x < 0.3:
        return x
    return 0.3 if x < 0.6 else 0.3 + 0.7 * (x - 0.6) / 0.4


CURVES: dict[str, Curve] = {
    "linear": lambda x: x,
    "flat": lambda x: 0.0,  # no signal: 0 until it jumps to complete
    # smooth speed-ups and slow-downs
    "t^2": lambda x: x * x,
    "sqrt": math.sqrt,
    "flat 50% then linear": _flat_then_linear(0.5),
    "flat 80% then linear": _flat_then_linear(0.8),
    "s-curve": lambda x: x * x * (3 - 2 * x),
    "fast then slow": lambda x: 2.5 * x if x < 0.2 else 0.5 + 0.625 * (x - 0.2),
    # abrupt or steep late speed-ups: indistinguishable from a slower steady job until they happen
    "t^3": lambda x: x**3,
    "slow then fast": lambda x: 0.625 * x if x < 0.8 else 0.5 + 2.5 * (x - 0.8),
    "stall in the middle": _stall_in_the_middle,
}
SMOOTH = ["t^2", "sqrt", "s-curve", "fast then slow"]
FLAT_START = ["flat 50% then linear", "flat 80% then linear"]
ABRUPT = ["t^3", "slow then fast", "stall in the middle"]


@dataclass(frozen=True)
class Reporting:
    """How the server reports ``percentComplete``."""

    name: str
    quantum: float = 0.0  # values are multiples of this (0: exact)
    floor: bool = False  # truncated rather than rounded to the quantum
    jitter: float = 0.0  # +/- uniform noise, in percentage points, before quantising
    period: float = 0.0  # the value is refreshed only every `period` seconds (0: live)

    def fits(self, duration: float) -> bool:
        """Step-wise reports are only meaningful when the job spans at least 20 refreshes."""
        return self.period * 20 <= duration


STEADY_REPORTING = [
    Reporting("exact"),
    Reporting("tenths", quantum=0.1),
    Reporting("whole", quantum=1.0),
    Reporting("whole, truncated", quantum=1.0, floor=True),
    Reporting("jitter 0.5", jitter=0.5),
    Reporting("tenths, jitter 0.3", quantum=0.1, jitter=0.3),
    Reporting("whole, jitter 0.5", quantum=1.0, jitter=0.5),
    Reporting("tenths, every 2 s", quantum=0.1, period=2.0),
    Reporting("whole, every 5 s", quantum=1.0, period=5.0),
]
EXACT, WHOLE = STEADY_REPORTING[0], STEADY_REPORTING[2]


@dataclass(frozen=True)
class Outcome:
    polls: int  # GETs made, including the one that saw `complete`
    delay: float  # seconds between the job's end and that poll
    min_gap: float  # smallest time between two consecutive requests (the POST included)
    gaps: tuple[float, ...]


def simulate(
    duration: float,
    curve: Curve,
    reporting: Reporting = EXACT,
    seed: int = 0,
    *,
    start: float = 5_000.0,
    first_percent: float = 0.0,
    max_polls: int = 1_000,
) -> Outcome:
    """Run one export job against a fresh seeded schedule, in virtual time.

    The POST answers ``first_percent`` at ``start``; the job is complete from ``start + duration``;
    until then a poll answers the reported percentage (``first_percent`` + the curve's share of
    the rest, then stepped, jittered and quantised).
    """
    noise = random.Random(seed ^ 0x5EED)
    jitters: dict[float, float] = {}
    schedule = PollSchedule(rng=random.Random(seed))
    schedule.observe(start, first_percent)
    now = start
    gaps: list[float] = []
    while len(gaps) < max_polls:
        delay = schedule.next_delay(now)
        gaps.append(delay)
        now += delay
        elapsed = now - start
        if elapsed >= duration:
            return Outcome(len(gaps), elapsed - duration, min(gaps), tuple(gaps))
        refreshed = math.floor(elapsed / reporting.period) * reporting.period if reporting.period else elapsed
        percent = first_percent + (100.0 - first_percent) * curve(refreshed / duration)
        if reporting.jitter:
            if refreshed not in jitters:
                jitters[refreshed] = noise.uniform(-reporting.jitter, reporting.jitter)
            percent += jitters[refreshed]
        if reporting.quantum:
            rounding = math.floor if reporting.floor else round
            percent = rounding(percent / reporting.quantum) * reporting.quantum
        schedule.observe(now, min(max(percent, 0.0), 100.0))
    raise AssertionError(f"no completion seen after {max_polls} polls")


def steady_target(duration: float) -> float:
    return 0.1 * duration + 0.5


def no_signal_bound(duration: float) -> float:
    """How late a job that says nothing may be seen: one idle gap, <= ~80 % of the wait so far or the cap."""
    return min(CAP * (1 + JITTER), 0.8 * duration + 1.0)


# -- steady jobs: <= 10 polls, seen within 10 % of the duration + 0.5 s ------------------------


@pytest.mark.parametrize("reporting", STEADY_REPORTING, ids=lambda r: r.name)
def test_steady_jobs_are_seen_promptly_with_few_polls(reporting: Reporting) -> None:
    for duration in GRID:
        if not reporting.fits(duration):
            continue
        for seed in SEEDS:
            out = simulate(duration, CURVES["linear"], reporting, seed)
            where = f"D={duration} seed={seed}: {out}"
            assert out.polls <= 10, where
            assert out.delay <= steady_target(duration), where
            assert out.min_gap >= MIN_GAP, where


@settings(max_examples=400, deadline=None)
@given(
    duration=st.floats(min_value=0.5, max_value=600.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    reporting=st.sampled_from(STEADY_REPORTING),
)
def test_steady_jobs_any_duration(duration: float, seed: int, reporting: Reporting) -> None:
    if not reporting.fits(duration):
        reporting = WHOLE
    out = simulate(duration, CURVES["linear"], reporting, seed)
    assert out.polls <= 10
    assert out.delay <= steady_target(duration)
    assert out.min_gap >= MIN_GAP


@pytest.mark.parametrize(("first_percent", "max_polls"), [(12.0, 10), (40.0, 10), (75.0, 12), (85.5, 15)])
def test_resumed_polling_of_a_job_already_under_way(first_percent: float, max_polls: int) -> None:
    # F2: a caller may resume polling a progressId later, so the first answer is not 0. The
    # fewer points remain, the coarser whole-percent answers are relative to the remaining
    # work (85.5 % left to run in 300 s moves one point every 20 s), so it takes a few more polls.
    for duration in [2.0, 30.0, 120.0, 300.0]:
        for seed in range(10):
            out = simulate(duration, CURVES["linear"], WHOLE, seed, first_percent=first_percent)
            assert out.polls <= max_polls, (duration, seed, out)
            assert out.delay <= steady_target(duration), (duration, seed, out)


def test_predicted_completion_tracks_a_steady_job() -> None:
    schedule = PollSchedule(rng=random.Random(3))
    assert schedule.predicted_completion is None
    schedule.observe(100.0, 0.0)
    assert schedule.started_at == 100.0
    assert schedule.predicted_completion is None  # no signal yet
    for t in (10.0, 20.0, 40.0):
        schedule.observe(100.0 + t, t / 2.0)  # 200 s job
    predicted = schedule.predicted_completion
    assert predicted is not None
    assert predicted == pytest.approx(300.0, rel=0.02)
    assert schedule.polls == 3
    assert schedule.percent == 20.0


# -- no signal: jittered geometric backoff, capped ---------------------------------------------


def test_no_signal_backoff_grows_geometrically_to_the_cap_with_jitter() -> None:
    out = simulate(600.0, CURVES["flat"], EXACT, seed=1)
    gaps = out.gaps
    assert 0.8 <= gaps[0] <= 1.0  # ~first_interval, never later (a 0.5 s job is seen at once)
    uncapped = [g for g in gaps if g < CAP * (1 - JITTER)]
    assert len(uncapped) >= 5
    # x1.5 per poll with +/-20 % jitter: each gap at least the previous one until the cap
    head = gaps[: len(uncapped)]
    assert all(b >= a for a, b in itertools.pairwise(head))
    assert gaps[5] >= 4.0
    assert max(gaps) <= CAP * (1 + JITTER)
    tail = gaps[12:-1]
    assert all(CAP * (1 - JITTER) <= g <= CAP * (1 + JITTER) for g in tail)
    assert max(tail) - min(tail) > 0.1 * CAP  # jittered, not a fixed period
    assert 45 <= out.polls <= 80  # a 10-minute job that says nothing: within F2's budget


def test_jobs_started_together_do_not_poll_in_lockstep() -> None:
    schedules = [simulate(600.0, CURVES["flat"], EXACT, seed).gaps for seed in range(20)]
    for k, spread in [(5, 2.0), (12, 8.0), (20, 15.0)]:
        times = sorted(sum(gaps[:k]) for gaps in schedules)
        assert times[-1] - times[0] >= spread  # the k-th polls of 20 jobs are spread out ...
        assert min(b - a for a, b in itertools.pairwise(times)) > 0  # ... and never simultaneous


@pytest.mark.parametrize("duration", [*GRID, 3.0, 7.5, 20.0, 45.0, 90.0, 200.0, 450.0])
def test_a_job_that_jumps_from_0_to_100_is_seen_within_the_backoff(duration: float) -> None:
    for seed in SEEDS:
        out = simulate(duration, CURVES["flat"], EXACT, seed)
        assert out.delay <= no_signal_bound(duration), (seed, out)
        assert out.min_gap >= MIN_GAP


def test_a_job_stuck_at_100_percent_is_polled_briskly_then_backs_off() -> None:
    schedule = PollSchedule(rng=random.Random(0))
    schedule.observe(0.0, 0.0)
    now = 0.0
    while schedule.percent < 100.0:  # a 25 s job ...
        now += schedule.next_delay(now)
        schedule.observe(now, min(100.0, now * 4.0))
    gaps = []
    for _ in range(30):  # ... that keeps answering 100 % while "inProgress" (the file is being written)
        gap = schedule.next_delay(now)
        gaps.append(gap)
        now += gap
        schedule.observe(now, 100.0)
    assert gaps[0] <= 1.0 * (1 + JITTER)  # max(min_interval, 3 % of the elapsed time), jittered
    assert all(MIN_GAP <= g <= CAP * (1 + JITTER) for g in gaps)
    assert gaps[8] > 2 * gaps[0]  # backs off ...
    assert all(g >= CAP * (1 - JITTER) for g in gaps[-10:])  # ... to the cap


# -- speed-ups and slow-downs ------------------------------------------------------------------


def nonlinear_bound(curve: str, duration: float) -> float:
    """A quarter of the duration + 1 s; while a job is flat it is a no-signal job, so no worse than that."""
    bound = 0.25 * duration + 1.0
    return max(bound, no_signal_bound(duration)) if curve in FLAT_START else bound


def _worst(curve: str, seeds: range = range(10)) -> tuple[float, Outcome, float, Reporting]:
    """The worst delay, relative to the curve's bound, over the grid and every reporting model."""
    worst: tuple[float, Outcome, float, Reporting] | None = None
    for reporting in STEADY_REPORTING:
        for duration in GRID:
            if not reporting.fits(duration):
                continue
            for seed in seeds:
                out = simulate(duration, CURVES[curve], reporting, seed)
                assert out.min_gap >= MIN_GAP
                excess = out.delay / nonlinear_bound(curve, duration)
                if worst is None or excess > worst[0]:
                    worst = (excess, out, duration, reporting)
    assert worst is not None
    return worst


@pytest.mark.parametrize("curve", SMOOTH + FLAT_START)
def test_smooth_speed_ups_and_slow_downs_cost_at_most_a_quarter(curve: str) -> None:
    # The straight-line fit uses only the recent stretch consistent with one rate (so a flat
    # start or a slowdown is forgotten), a power-law fit catches acceleration, and an apparent
    # acceleration shortens the guard on each sleep. Measured worst: ~65 % of the bound (t^2).
    ratio, out, duration, reporting = _worst(curve)
    assert ratio <= 1.0, f"{curve}: D={duration} {reporting.name}: {out}"


@settings(max_examples=200, deadline=None)
@given(
    curve=st.sampled_from(SMOOTH + FLAT_START),
    duration=st.floats(min_value=0.5, max_value=600.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    reporting=st.sampled_from(STEADY_REPORTING),
)
def test_smooth_speed_ups_and_slow_downs_any_duration(
    curve: str, duration: float, seed: int, reporting: Reporting
) -> None:
    if not reporting.fits(duration):
        reporting = WHOLE
    out = simulate(duration, CURVES[curve], reporting, seed)
    assert out.delay <= nonlinear_bound(curve, duration)
    assert out.min_gap >= MIN_GAP


@pytest.mark.parametrize("curve", ABRUPT)
def test_abrupt_late_speed_ups_stay_bounded(curve: str) -> None:
    # Until the speed-up happens these jobs look exactly like a slower steady job, on which the
    # schedule must sleep long to stay within 10 polls. The guard on each sleep (H x the span of
    # the supporting data) still bounds the damage; measured worst ~1.15 x the duration.
    worst = 0.0
    for reporting in STEADY_REPORTING:
        for duration in GRID:
            if reporting.fits(duration):
                for seed in range(10):
                    out = simulate(duration, CURVES[curve], reporting, seed)
                    assert out.min_gap >= MIN_GAP
                    worst = max(worst, (out.delay - 1.0) / duration)
    assert worst <= 1.5


# -- robustness: garbage in, never a burst -----------------------------------------------------

any_float = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=300, deadline=None)
@given(
    start=any_float,
    steps=st.lists(st.tuples(any_float, any_float, any_float), max_size=40),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_delay_is_finite_and_at_least_min_interval_whatever_the_inputs(
    start: float, steps: list[tuple[float, float, float]], seed: int
) -> None:
    schedule = PollSchedule(rng=random.Random(seed))
    schedule.observe(start, 0.0)
    now = start
    for advance, percent, skew in steps:
        delay = schedule.next_delay(now + skew)
        assert math.isfinite(delay)
        assert delay >= MIN_GAP
        now += advance  # may go backwards, or become inf/NaN
        schedule.observe(now, percent)
    assert schedule.polls <= len(steps)


@settings(max_examples=300, deadline=None)
@given(
    percents=st.lists(
        st.one_of(
            st.floats(min_value=-50, max_value=150),
            st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 100.0, 1e308]),
        ),
        min_size=1,
        max_size=60,
    ),
    back=st.lists(st.booleans(), min_size=60, max_size=60),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_polls_are_never_closer_than_min_interval(percents: list[float], back: list[bool], seed: int) -> None:
    # the caller sleeps exactly the delay; the clock it reports may jump backwards
    schedule = PollSchedule(rng=random.Random(seed))
    true_time = reported = 1_000.0
    schedule.observe(reported, 0.0)
    for percent, backwards in zip(percents, back, strict=False):
        delay = schedule.next_delay(reported)
        assert delay >= MIN_GAP
        true_time += delay
        reported = reported - 3.0 if backwards else true_time
        schedule.observe(reported, percent)


def test_decreasing_and_out_of_range_percentages_are_ignored() -> None:
    schedule = PollSchedule(rng=random.Random(0))
    schedule.observe(0.0, 0.0)
    for t, p in [(1.0, 10.0), (2.0, -5.0), (3.0, 5.0), (4.0, math.nan), (5.0, 250.0)]:
        assert schedule.next_delay(t - 1.0) >= MIN_GAP
        schedule.observe(t, p)
    assert schedule.percent == 100.0
    assert schedule.polls == 5


def test_same_rng_seed_same_schedule() -> None:
    a = simulate(300.0, CURVES["t^2"], STEADY_REPORTING[5], seed=42)
    b = simulate(300.0, CURVES["t^2"], STEADY_REPORTING[5], seed=42)
    assert a == b


def test_delay_before_any_observation_is_the_first_interval() -> None:
    delay = PollSchedule(rng=random.Random(0)).next_delay(123.0)
    assert 0.8 <= delay <= 1.0


@pytest.mark.parametrize(
    ("name", "value"),
    [("min_interval", 0.0), ("min_interval", math.nan), ("max_idle_interval", -1.0), ("first_interval", math.inf)],
)
def test_rejects_unusable_settings(name: str, value: float) -> None:
    kwargs = {"min_interval": 0.5, "max_idle_interval": 12.0, "first_interval": 1.0, name: value}
    with pytest.raises(ValueError, match="positive finite"):
        PollSchedule(
            min_interval=kwargs["min_interval"],
            max_idle_interval=kwargs["max_idle_interval"],
            first_interval=kwargs["first_interval"],
        )


def test_intervals_below_min_interval_are_raised_to_it() -> None:
    schedule = PollSchedule(min_interval=2.0, first_interval=0.1, max_idle_interval=1.0, rng=random.Random(0))
    schedule.observe(0.0, 0.0)
    assert all(schedule.next_delay(0.0) >= 2.0 for _ in range(10))


# -- the report table ----------------------------------------------------------------------------


def table(durations: list[float], seeds: range = range(20)) -> list[str]:
    """Worst polls and detection delay per (curve, reporting, duration) over ``seeds``."""
    rows = [f"{'curve':22} {'reporting':20} {'D (s)':>6} {'polls':>5} {'delay (s)':>9} {'delay/D':>7}"]
    for curve in ["linear", "flat", *SMOOTH, *FLAT_START, *ABRUPT]:
        for reporting in STEADY_REPORTING if curve == "linear" else [EXACT, WHOLE, STEADY_REPORTING[5]]:
            for duration in durations:
                if not reporting.fits(duration):
                    continue
                outs = [simulate(duration, CURVES[curve], reporting, seed) for seed in seeds]
                polls = max(o.polls for o in outs)
                delay = max(o.delay for o in outs)
                rows.append(
                    f"{curve:22} {reporting.name:20} {duration:6g} {polls:5d} {delay:9.2f} {delay / duration:7.1%}"
                )
    return rows


if __name__ == "__main__":
    print("\n".join(table(GRID)))
