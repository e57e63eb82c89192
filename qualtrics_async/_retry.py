"""The one place that decides whether a failed attempt is retried, and after how long.

Rules (docs/errors.md, "Retries"): connect-phase failures and 429s are retried for any method,
since the request was never processed; 5xx, read timeouts, dropped connections and
undecodable bodies only for idempotent requests (GET/PUT/DELETE, and routes marked safe
to repeat such as starting an export), since a POST may already have taken effect.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from qualtrics_async._config import RetryPolicy
from qualtrics_async._ratelimit._limits import Templates

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

RETRY_SAFE_ROUTES = Templates(["POST /surveys/{surveyId}/export-responses"])
"""POST routes that are safe to repeat: a duplicate export job is harmless (it costs quota only).

Matched independently of the rate-limit table, which users may edit."""

RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})


class Failure(Enum):
    """How an attempt failed, as far as the retry decision cares."""

    NOT_SENT = "not sent"  # connect refused, DNS, connect timeout: nothing reached the server
    THROTTLED = "throttled"  # 429
    SERVER = "server error"  # 408/5xx
    TIMEOUT = "timeout"  # the attempt timed out after the request may have been sent
    DROPPED = "dropped"  # connection reset or closed mid-exchange, truncated body
    BAD_BODY = "bad body"  # 2xx whose body is not the JSON envelope


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to retry, and after how many seconds."""

    retry: bool
    delay: float = 0.0
    reason: str = ""


class RetryBudget:
    """A client-wide token bucket of retries (botocore's retry quota).

    Each retry spends units; each successful call refunds one. When the budget is
    empty, failures are raised at once instead of multiplying the load on a failing server.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._capacity = policy.budget
        self._level = policy.budget

    @property
    def level(self) -> int:
        return self._level

    def spend(self, failure: Failure) -> bool:
        cost = self._policy.timeout_cost if failure is Failure.TIMEOUT else self._policy.retry_cost
        if failure is Failure.THROTTLED:
            cost = 0  # a 429 is paced by the limiter, not by the budget
        if cost > self._level:
            return False
        self._level -= cost
        return True

    def refund(self, units: int = 1) -> None:
        if self._level < self._capacity:
            self._level = min(self._capacity, self._level + units)


def is_idempotent(method: str, path: str) -> bool:
    """Whether repeating ``method path`` (an API path, ids filled in) cannot change the outcome."""
    return method.upper() in IDEMPOTENT_METHODS or RETRY_SAFE_ROUTES.match(method, path) is not None


def backoff(policy: RetryPolicy, retry_number: int, *, throttled: bool, rng: random.Random) -> float:
    """Full-jitter exponential backoff: ``U(0, min(max_delay, base·2ⁿ))`` for the n-th retry (from 0)."""
    base = policy.throttle_base_delay if throttled else policy.base_delay
    ceiling = min(policy.max_delay, base * (2**retry_number))
    return rng.uniform(0, ceiling)


def decide(
    failure: Failure,
    *,
    idempotent: bool,
    attempt: int,
    policy: RetryPolicy,
    budget: RetryBudget,
    retry_after: float | None = None,
    rng: random.Random,
) -> Decision:
    """Decide about attempt number ``attempt`` (1-based) that failed with ``failure``."""
    if attempt >= policy.max_attempts:
        return Decision(False, reason=f"gave up after {attempt} attempts")
    if failure not in (Failure.NOT_SENT, Failure.THROTTLED) and not idempotent:
        return Decision(False, reason="not retried: the request is not idempotent and may have taken effect")
    if retry_after is not None and retry_after > policy.max_retry_after:
        return Decision(
            False,
            reason=f"not retried: Retry-After {retry_after:g} s is longer than RetryPolicy.max_retry_after "
            f"({policy.max_retry_after:g} s); try again later, or raise max_retry_after to wait it out",
        )
    if not budget.spend(failure):
        return Decision(False, reason="retry budget exhausted (the server keeps failing)")
    if retry_after is not None:
        return Decision(True, delay=retry_after, reason="Retry-After")
    delay = backoff(policy, attempt - 1, throttled=failure is Failure.THROTTLED, rng=rng)
    return Decision(True, delay=delay, reason=failure.value)
