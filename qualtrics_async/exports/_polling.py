"""When to poll an export job's progress: a pure (sans-I/O) scheduler.

A response export is an asynchronous job: ``POST`` starts it, then ``GET`` progress answers
``percentComplete`` (0-100, sometimes cosmetic) and ``status``. :class:`PollSchedule` only
decides *when* to ask next. It never sleeps, never reads a clock and never does I/O: the caller
feeds it the answers with monotonic timestamps and sleeps for the delay it returns. The client's
rate limiter separately enforces the endpoint's limit.

Targets (see the tests in ``tests/test_poll_schedule.py``, which simulate jobs in virtual time):

* never two polls less than ``min_interval`` (0.5 s) apart, whatever the inputs;
* a job whose percentage advances steadily (even quantised to whole percents, jittered, or
  refreshed only every few seconds) is seen complete at most 10 % of its duration + 0.5 s after
  it finishes, with at most 10 polls, for durations from 0.5 s to 10 minutes;
* a job that reports nothing useful gets a jittered geometric backoff, 1 s growing to
  ``max_idle_interval`` (12 s): about 55 polls for a 10-minute job, and its end is seen within
  one gap (at most ~80 % of its duration + 1 s, and at most the jittered cap);
* a job that speeds up or slows down smoothly (``p ~ t^2``, ``p ~ sqrt(t)``, an S-curve, a flat
  start then linear) is seen within 25 % of its duration + 1 s (a flat start being no worse than a
  job that says nothing). A late, abrupt speed-up looks exactly like a slower steady job until it
  happens; the guard below still bounds the cost (measured worst: ~1.15 x the duration).

Heuristics, and why
-------------------

*Sanitising.* Times that are not finite or go backwards are replaced by the latest time seen;
percentages are clamped to [0, 100], ``NaN`` counts as "no news", and a value below the best seen
so far is ignored (progress cannot go backwards; the drop only raises the noise estimate). The
returned delay is always finite and at least ``min_interval``, so no input can cause a burst.

*No signal yet.* Until the percentage moves clearly above its starting value, nothing can be
predicted. The delays are ``first_interval`` (drawn in [0.8, 1] x, never later, so a 0.5 s job is
seen at once), then grow x1.5 per poll up to ``max_idle_interval``, each jittered by +/-20 % so that
jobs started together do not poll in lockstep. With a growth of 1.5 a gap is at most ~3/4 of the
time already waited (jitter included), so a job that jumps from 0 to 100 is seen within ~80 % of
its duration + 1 s, or within the cap for long jobs, while a job stuck for 10 minutes costs ~55
polls. A faster growth would save a poll or two on long jobs but double the worst case on short
ones; a slower one would cost more polls on every long job before its first visible progress.

*Noise.* Answers are treated as uncertain by ``u`` percentage points: 1 when every value seen is a
whole number (quantised, rounded or truncated), else 0.5 (tenths, small jitter); any decrease seen
raises ``u`` to half of the largest drop (capped at 5). "Moving" means above the start by 1 point
(a whole-number answer of at least 1), or by the largest drop once answers have gone down; if
later drops show that the "progress" was within the noise, the schedule goes back to no signal.
Answers may also be stale: a value seen unchanged for a while proves the report refreshes
slowly, so the *lag* allowance is 1.5 x the longest such run, and at least min(2 s, 10 % of the
elapsed time).

*Estimate.* Each new value is kept with the time it was first seen. The completion time is
extrapolated from a straight line through the latest point and the *oldest* earlier point such
that every point in between lies on that line within the noise: a steady job uses its whole
history (origin included), while a change of regime (a long flat start, a stall, a burst) cuts the
history at the break, so the estimate automatically weights recent points. Worst-case slopes
under noise and lag give a bracket ``[E_lo, E_hi]`` for the completion. Because a straight line
underestimates an accelerating job, a power law ``p ~ t^k`` (from the job's start and from the
last "no progress" answer, through a point about half-way back) is fitted too, with ``k`` in
[1, 3]; the earlier of the two estimates is used for ``E_lo``.

*When to poll.* Next poll at ``min(E_hi, E_lo * 1.08 + 0.4 s)`` (times from the job's start). If
the job ends anywhere in ``[E_lo, target]``, it is detected within 8 % of its duration + 0.4 s;
if it ends later, the poll lands before the end, with much better data, and the bracket narrows.
This is the "never sleep more than a fraction of the elapsed time beyond what the estimate
supports" rule, with the lower end of the bracket as the supported estimate.

*Guard against wrong predictions.* A sleep never reaches further past the latest answer than ``H``
times the span ``W`` of the data behind the estimate: ``H = 1`` when the estimate is unconfirmed
(a single point after a break, or an apparent acceleration ``k >= 1.3`` even after allowing for
noise), else 3, growing by 2 per further consistent point up to 7. So a wrong prediction costs at
most ``H W``: little for fresh or accelerating data, more only once several answers agree on a
steady rate. Steady jobs need those long sleeps: from the first visible progress (~5 s into a
10-minute job) to the end, the budget leaves 3-4 sleeps. Capping every sleep at a fixed fraction
of the elapsed time instead was measured in the simulator: at 1 x the elapsed time it costs ~3
more polls per steady job (up to 12) and barely helps a late speed-up; at 0.5 x it bounds late
speed-ups to ~30 % of the duration but steady jobs need ~13 polls (up to 18).

*Overdue.* If the estimate says the job should have finished (a stall, or a stale report), the
next poll is ``8 % of the elapsed time + 0.4 s`` later, growing x1.25 per unchanged answer and
capped at ``max_idle_interval``, like the idle backoff. A job reporting 100 % while still running
is polled at ``max(min_interval, 3 % of the elapsed time)``, growing x1.5, capped likewise.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["PollSchedule"]

_IDLE_GROWTH = 1.5  # backoff factor per poll while the job reports nothing usable
_STALL_GROWTH = 1.25  # backoff factor per unchanged answer once the estimate is overdue
_JITTER = 0.2  # +/- fraction applied to backoff delays
_NOISE_WHOLE = 1.0  # uncertainty (points) of whole-number answers
_NOISE_FINE = 0.5  # uncertainty of finer answers (tenths, jitter)
_NOISE_MAX = 5.0  # cap on the uncertainty learned from decreasing answers
_MOVE_WHOLE = 0.5  # a whole-number answer of 1 or more is progress
_MOVE_FINE = 1.0  # a finer answer must exceed the start by 1 point
_LAG_FLOOR = 2.0  # seconds of report staleness assumed at least ...
_LAG_FRACTION = 0.1  # ... but no more than this fraction of the elapsed time
_LAG_RUN_FACTOR = 1.5  # a value seen unchanged for T seconds: assume reports may be 1.5 T old
_LINE_SLACK = 0.05  # relative deviation from a straight line tolerated as noise
_K_MAX = 3.0  # steepest power law considered
_K_STEEP = 1.3  # an exponent above this (after noise) counts as an acceleration
_BETA = 0.08  # a poll may go this fraction of the job's estimated duration past the lower bound ...
_DELTA = 0.4  # ... plus these seconds
_H_UNCONFIRMED = 1.0  # guard, in spans of supporting data, for unconfirmed estimates
_H_CONFIRMED = 3.0  # guard with one confirming point ...
_H_STEP = 2.0  # ... plus this per further confirming point ...
_H_MAX = 7.0  # ... up to this
_FINISHING_FRACTION = 0.03  # first delay after a "100 %" that is not yet complete, per elapsed second
_MAX_ANCHORS = 32
_EPS = 1e-9


@dataclass(slots=True)
class _Point:
    first: float  # elapsed seconds when the value was first seen
    last: float  # elapsed seconds when it was last seen
    percent: float


class _Fit(NamedTuple):
    elapsed: float  # when the latest value was first seen
    percent: float  # the latest value
    slope: float  # central estimate, points per second
    low: float  # earliest plausible completion (elapsed seconds)
    high: float  # latest plausible completion (may be inf)
    guard: float  # latest elapsed time a poll may be planned for


class PollSchedule:
    """Decide when to poll an export job's progress, from the ``percentComplete`` answers so far.

    Pure: it never sleeps, reads a clock or does I/O, and is deterministic given ``rng``. Usage::

        schedule = PollSchedule()
        schedule.observe(t_post, 0.0)  # the POST's answer; the job's start time
        while True:
            await anyio.sleep(schedule.next_delay(monotonic()))
            answer = await poll()
            schedule.observe(monotonic(), answer.percent_complete)
            if answer.status != "inProgress":
                break

    Consecutive delays are never shorter than ``min_interval``. While the percentage says nothing
    (flat, or jumping 0 -> 100 at the end), delays start near ``first_interval`` and grow
    geometrically, with +/-20 % jitter, to ``max_idle_interval``. Once it moves, the schedule
    extrapolates the completion time from the recent, consistent part of the history and polls
    just after the earliest plausible completion, so a steadily progressing job is seen complete
    within 10 % of its duration + 0.5 s, in at most 10 polls (simulated for jobs of 0.5 s to 10
    minutes). The module docstring explains the heuristics.
    """

    def __init__(
        self,
        *,
        min_interval: float = 0.5,
        max_idle_interval: float = 12.0,
        first_interval: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        for name, value in (
            ("min_interval", min_interval),
            ("max_idle_interval", max_idle_interval),
            ("first_interval", first_interval),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self._min = float(min_interval)
        self._first = max(float(first_interval), self._min)
        self._cap = max(float(max_idle_interval), self._first)
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not crypto
        self._t0: float | None = None
        self._last = 0.0  # elapsed seconds of the latest observation
        self._polls = 0
        self._start_percent = 0.0
        self._still_since = 0.0  # elapsed seconds of the latest answer that was not progress yet
        self._points: list[_Point] = []  # one per new best value, once moving
        self._best = 0.0
        self._unchanged = 0  # answers since the best value last improved
        self._whole = True  # every value seen so far is a whole number
        self._drop = 0.0  # largest decrease between consecutive answers
        self._previous = 0.0

    # -- read-only state -------------------------------------------------------------------

    @property
    def polls(self) -> int:
        """Progress answers observed after the first one (the POST's)."""
        return self._polls

    @property
    def started_at(self) -> float | None:
        """Time of the first observation, taken as the job's start; ``None`` before it."""
        return self._t0

    @property
    def percent(self) -> float:
        """Best percentage seen so far (sanitised)."""
        return self._best

    @property
    def predicted_completion(self) -> float | None:
        """Central estimate of when the job completes (same clock as ``observe``), if it is moving."""
        if self._t0 is None or not self._points or self._best >= 100.0:
            return None
        fit = self._fit()
        if fit.slope <= 0:
            return None
        return self._t0 + fit.elapsed + (100.0 - fit.percent) / fit.slope

    # -- input -----------------------------------------------------------------------------

    def observe(self, at: float, percent: float) -> None:
        """Record a progress answer seen at monotonic time ``at``; the first call starts the job."""
        if self._t0 is None:
            if not math.isfinite(at):
                return
            self._t0 = float(at)
            self._start_percent = self._best = self._previous = _clamp_percent(percent, 0.0)
            return
        self._polls += 1
        elapsed = at - self._t0 if math.isfinite(at) else self._last
        if not math.isfinite(elapsed):
            elapsed = self._last
        elapsed = max(elapsed, self._last)
        self._last = elapsed
        if not math.isfinite(percent):
            self._note_unchanged(elapsed)
            return
        value = _clamp_percent(percent, self._previous)
        if 0.0 < value < 100.0 and abs(value - round(value)) > _EPS:
            self._whole = False
        self._drop = max(self._drop, self._previous - value)
        self._previous = value
        floor = self._best if self._points else self._start_percent + self._move_threshold()
        if value >= 100.0 > self._best or value > floor + _EPS:
            self._best = value
            self._unchanged = 0
            self._points.append(_Point(elapsed, elapsed, value))
        else:
            self._note_unchanged(elapsed)
        if self._points and self._best < 100.0 and self._best <= self._start_percent + self._move_threshold():
            # what looked like progress is within the noise learned since: back to "no signal"
            self._points.clear()
            self._best = self._start_percent
            self._still_since = elapsed

    def _note_unchanged(self, elapsed: float) -> None:
        self._unchanged += 1
        if self._points:
            self._points[-1].last = elapsed
        else:
            self._still_since = elapsed

    # -- output ----------------------------------------------------------------------------

    def next_delay(self, now: float) -> float:
        """Seconds to wait before the next poll (at least ``min_interval``), given the time ``now``."""
        if self._t0 is None:
            return max(self._min, self._first * self._rng.uniform(1.0 - _JITTER, 1.0))
        elapsed = now - self._t0 if math.isfinite(now) else self._last
        if not math.isfinite(elapsed):
            elapsed = self._last
        elapsed = max(elapsed, self._last)
        if self._best >= 100.0:
            base = max(self._min, _FINISHING_FRACTION * elapsed) * _IDLE_GROWTH ** min(self._unchanged, 60)
            delay = self._jitter(min(self._cap, base))
        elif not self._points:
            if self._polls == 0:
                delay = self._first * self._rng.uniform(1.0 - _JITTER, 1.0)
            else:
                delay = self._jitter(min(self._cap, self._first * _IDLE_GROWTH ** min(self._polls, 60)))
        else:
            fit = self._fit()
            target = min(fit.high, fit.low * (1.0 + _BETA) + _DELTA, fit.guard)
            if target > elapsed:
                delay = target - elapsed
            else:  # overdue: stalled, or the report is stale
                base = (_BETA * elapsed + _DELTA) * _STALL_GROWTH ** min(self._unchanged, 60)
                delay = self._jitter(min(self._cap, base))
        if not math.isfinite(delay):
            delay = self._cap
        return max(self._min, delay)

    # -- estimation ------------------------------------------------------------------------

    def _noise(self) -> float:
        return min(max(_NOISE_WHOLE if self._whole else _NOISE_FINE, 0.5 * self._drop), _NOISE_MAX)

    def _move_threshold(self) -> float:
        return max(_MOVE_WHOLE if self._whole else _MOVE_FINE, min(self._drop, 2 * _NOISE_MAX))

    def _lag(self) -> float:
        lag = min(_LAG_FLOOR, _LAG_FRACTION * self._last)
        for point in self._points[:-1]:
            lag = max(lag, _LAG_RUN_FACTOR * (point.last - point.first))
        return lag

    def _fit(self) -> _Fit:
        u = self._noise()
        lag = self._lag()
        latest = self._points[-1]
        en, pn = latest.first, latest.percent
        still, p0 = self._still_since, self._start_percent

        # Anchors, newest first: (elapsed, percent, its uncertainty, only an upper bound?).
        # The last "no progress" answer only says the job was at most at the threshold then.
        # (At most _MAX_ANCHORS earlier values are checked, to keep each call cheap.)
        anchors = [(q.first, q.percent, u, False) for q in reversed(self._points[-_MAX_ANCHORS - 1 : -1])]
        anchors.append((still, p0 + self._move_threshold() - u, u, True))
        anchors.append((0.0, p0, 0.0, True))
        ae, ap, ua = anchors[0][0], anchors[0][1], anchors[0][2]
        inner: list[tuple[float, float, bool]] = []
        confirming = 0
        for ce, cp, cu, upper_only in anchors:
            if en - ce <= _EPS:
                inner.append((ce, cp, upper_only))
                continue
            slope = (pn - cp) / (en - ce)
            consistent = True
            for ie, ip, i_upper in inner:
                frac = (ie - ce) / (en - ce)
                line = cp + slope * (ie - ce)
                tolerance = u + cu * (1 - frac) + u * frac + slope * lag + _LINE_SLACK * abs(line - cp)
                if line - ip > tolerance or (not i_upper and ip - line > tolerance):
                    consistent = False
                    break
            if not consistent:
                break
            ae, ap, ua = ce, cp, cu
            confirming = sum(1 for _, _, i_upper in inner if not i_upper)
            inner.append((ce, cp, upper_only))

        span = max(en - ae, _EPS)
        rise = pn - ap
        fastest = (rise + u + ua) / max(span - lag, span / 2)
        slowest = max(rise - u - ua, 0.0) / (span + lag)
        remaining = 100.0 - pn
        low = en - lag + max(remaining - u, 0.0) / fastest
        high = en + (remaining + u) / slowest if slowest > 0 else math.inf

        accelerating = False
        for origin in (0.0, still) if still > 0 else (0.0,):
            mids = [q for q in self._points[:-1] if q.first - origin <= (en - origin) / 2]
            mid = mids[-1] if mids else (self._points[0] if len(self._points) > 1 else None)
            if mid is None:
                continue
            x1, y1, x2, y2 = mid.first - origin, mid.percent - p0, en - origin, pn - p0
            if x1 <= 0 or y1 <= 0 or x2 <= x1 or y2 <= y1:
                continue
            k = min(max(math.log(y2 / y1) / math.log(x2 / x1), 1.0), _K_MAX)
            low = min(low, origin + max(x2 - lag, x2 / 2) * ((100.0 - p0) / y2) ** (1.0 / k))
            a1, a2 = y1 + u / 2, y2 - u / 2
            if a2 > a1 and math.log(a2 / a1) / math.log(x2 / x1) >= _K_STEEP:
                accelerating = True

        last_seen = latest.last
        if confirming and not accelerating:
            h = min(_H_CONFIRMED + _H_STEP * (confirming - 1), _H_MAX)
            window = last_seen - ae
        else:
            h = _H_UNCONFIRMED
            window = min(last_seen - ae, last_seen - still)
        guard = max(en, self._last) + max(self._min, h * window)
        return _Fit(en, pn, rise / span, low, high, guard)

    def _jitter(self, delay: float) -> float:
        return delay * self._rng.uniform(1.0 - _JITTER, 1.0 + _JITTER)


def _clamp_percent(value: float, default: float) -> float:
    if not math.isfinite(value):
        return default
    return min(max(float(value), 0.0), 100.0)
