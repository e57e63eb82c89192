"""`RedisRateLimiter`: one rate budget shared by every worker of a brand, kept in Redis.

Each key (the brand-wide budget, an endpoint row) is one Redis hash holding its GCRA state:
the theoretical arrival time of the next request, the AIMD multiplier, and a cooldown set
by a 429. One Lua script checks every key of a request against ``redis.call('TIME')`` —
the Redis server's clock, the same for every worker whatever their own clocks say — and
either grants all of them at once or consumes nothing and returns the exact wait. A
second script records a 429: the cooldown (Retry-After) and the multiplicative decrease,
at most once per window for all workers together.

In a process, requests with the same keys queue behind one head that talks to Redis, so
a thousand waiting tasks cost one Redis call per grant, not a thousand.

Keys are ``qa:{<namespace>}:brand``, ``qa:{<namespace>}:route:<METHOD /template>`` and
``qa:{<namespace>}:workers``: templates, never ids, so the key set is bounded, and the
``{<namespace>}`` hash tag puts one brand's keys in one Redis Cluster slot.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import urllib.parse
from collections.abc import Awaitable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from qualtrics_async._logging import logger
from qualtrics_async._ratelimit._limits import RateLimits
from qualtrics_async._ratelimit._local import LocalRateLimiter
from qualtrics_async._ratelimit._pacing import (
    DECREASE_FACTOR,
    DEFAULT_UTILIZATION,
    MIN_MULTIPLIER,
    RECOVERY_STEP,
    Pace,
    check_utilization,
    keys_for,
    pace_for,
    scaled,
)
from qualtrics_async._secret import Secret
from qualtrics_async.errors import ConfigurationError, RateLimiterUnavailableError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.commands.core import AsyncScript

WhenUnavailable = Literal["local", "raise"]

_EPOCH = 1_735_689_600
"""2025-01-01T00:00:00Z. Redis TIME minus this keeps microseconds exact in Lua's doubles."""

_ACQUIRE = """
-- KEYS[1..n-1]: the limit keys of one request; KEYS[n]: the set of live workers.
-- ARGV: window, recovery step, keep (s), heartbeat worker id or '', stale after (s),
--       multiplier floor, then interval and slack of each limit key.
local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local step = tonumber(ARGV[2])
local keep = tonumber(ARGV[3])
local n = #KEYS - 1
local workers = -1
if ARGV[4] ~= '' then
  local stale = tonumber(ARGV[5])
  redis.call('ZADD', KEYS[#KEYS], now, ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[#KEYS], '-inf', now - stale)
  redis.call('PEXPIRE', KEYS[#KEYS], math.ceil(stale * 1000))
  workers = redis.call('ZCARD', KEYS[#KEYS])
end
local floor = tonumber(ARGV[6])
local ready = now
local state = {}
for i = 1, n do
  local h = redis.call('HMGET', KEYS[i], 'tat', 'mult', 'changed', 'until')
  local s = {tat = tonumber(h[1]) or now, mult = tonumber(h[2]) or 1, changed = tonumber(h[3]) or now}
  -- A grant sets tat at most interval / floor ahead; further means Redis' clock stepped back.
  if s.tat > now + tonumber(ARGV[5 + 2 * i]) / floor then
    s.tat = now
  end
  if s.mult < 1 and now - s.changed >= window then
    s.mult = math.min(1, s.mult + step)
    s.changed = now
  end
  state[i] = s
  ready = math.max(ready, s.tat, tonumber(h[4]) or now)
end
if ready > now then
  return {0, string.format('%.6f', ready - now), workers}
end
for i = 1, n do
  local s = state[i]
  local interval = tonumber(ARGV[5 + 2 * i])
  local slack = tonumber(ARGV[6 + 2 * i])
  local start = now
  if now - s.tat <= slack then
    start = s.tat
  end
  local tat = start + interval / s.mult
  redis.call('HSET', KEYS[i], 'tat', string.format('%.6f', tat), 'mult', string.format('%.6f', s.mult),
    'changed', string.format('%.6f', s.changed))
  redis.call('PEXPIRE', KEYS[i], math.ceil((tat - now + keep) * 1000))
end
return {1, '0', workers}
""".replace("EPOCH", str(_EPOCH))

_PENALIZE = """
-- KEYS[1]: the limit key a 429 tripped.
-- ARGV: pause (s, 0 for none), window, decrease factor, floor, keep (s).
local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) + tonumber(t[2]) / 1000000
local pause = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'mult', 'decreased', 'until')
local mult = tonumber(h[1]) or 1
local decreased = tonumber(h[2])
local blocked = tonumber(h[3]) or 0
local paused = 0
if pause > 0 and now + pause > blocked then
  if blocked <= now then
    paused = 1  -- a new pause, not one more 429 of the current one: the caller logs it
  end
  blocked = now + pause
end
local lowered = 0
if decreased == nil or now - decreased >= window then
  mult = math.max(tonumber(ARGV[4]), mult * tonumber(ARGV[3]))
  decreased = now
  lowered = 1
end
redis.call('HSET', KEYS[1], 'mult', string.format('%.6f', mult), 'decreased', string.format('%.6f', decreased),
  'changed', string.format('%.6f', now), 'until', string.format('%.6f', blocked))
local ttl = math.ceil((math.max(blocked - now, 0) + tonumber(ARGV[5])) * 1000)
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {lowered, string.format('%.6f', mult), paused}
""".replace("EPOCH", str(_EPOCH))

_KEEP_WINDOWS = 1 + math.ceil((1 - MIN_MULTIPLIER) / RECOVERY_STEP)
"""A key's state outlives its last use by this many windows: long enough to recover fully."""


def _display_url(url: str) -> str:
    """``url`` for messages: any password masked, the query (which may hold one) left out."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    user = parts.username or ""
    auth = f"{user}:***@" if parts.password is not None else (f"{user}@" if user else "")
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{auth}{host}{port}{parts.path}{query}"


def _url_secrets(url: str) -> list[Secret]:
    """The passwords in a Redis URL (``user:pass@`` or ``?password=``), as masked secrets."""
    parts = urllib.parse.urlsplit(url)
    found = [urllib.parse.unquote(parts.password)] if parts.password else []
    found += urllib.parse.parse_qs(parts.query).get("password", [])
    return [Secret(value) for value in found if value]


def _is_redis_failure(exc: BaseException) -> bool:
    from redis.exceptions import RedisError

    return isinstance(exc, (RedisError, OSError, TimeoutError))


class RedisRateLimiter:
    """Paces every worker that shares ``namespace`` under one brand budget kept in Redis.

    Pass it to each client: ``QualtricsClient(limiter=RedisRateLimiter(url, namespace=...))``.
    Every process, on any machine, that uses the same Redis and namespace shares the
    brand-wide limit and each endpoint row, as if it were one process.

    Args:
        redis: a ``redis://`` / ``rediss://`` / ``unix://`` URL, or a redis-py asyncio
            client (``redis.asyncio.Redis`` or ``RedisCluster``) that you own and close.
        namespace: names the shared budget: one per Qualtrics brand (e.g. the brand id).
            Workers of one brand must use the same namespace and the same ``limits``.
        limits: the table to enforce (default: the published one, ``RateLimits()``).
        utilization: the fraction of each limit to use (default 0.95).
        expected_workers: how many workers share the budget. Used only while Redis is
            down, when each worker falls back to ``1 / expected_workers`` of every limit.
            Default: the number of workers seen in Redis recently (1 if never reached).
        when_unavailable: ``"local"`` (default): when Redis does not answer, log a warning
            and pace this worker on its own at its share of the limits, checking Redis
            again every ``recheck_after`` seconds. ``"raise"``: the request fails with
            :class:`~qualtrics_async.errors.RateLimiterUnavailableError` instead.
        redis_timeout: the longest one Redis call may take before Redis counts as down.
        recheck_after: seconds between attempts to reach Redis again after a failure.

    A 429 that any worker sees pauses every worker on that key for ``Retry-After`` and
    halves the key's pace (once per window for all workers together); each clean window
    then gives back 10 % of the configured rate, never above it. The worker whose 429
    starts a pause logs it at WARNING, once per pause. The client passes ``Retry-After``
    only when it is at most ``RetryPolicy.max_retry_after``; a longer one fails that call
    and only slows the key (docs/rate-limits.md).
    """

    def __init__(
        self,
        redis: str | Redis | RedisCluster,
        *,
        namespace: str = "default",
        limits: RateLimits | None = None,
        utilization: float = DEFAULT_UTILIZATION,
        expected_workers: int | None = None,
        when_unavailable: WhenUnavailable = "local",
        redis_timeout: float = 0.5,
        recheck_after: float = 5.0,
    ) -> None:
        try:
            from redis.asyncio import Redis, RedisCluster
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigurationError("RedisRateLimiter needs redis-py: pip install 'qualtrics-async[redis]'") from None
        if not namespace or any(c in namespace for c in "{}") or any(c.isspace() for c in namespace):
            raise ConfigurationError(
                f"namespace must be a non-empty name without braces or spaces (it is the Redis hash tag), "
                f"got {namespace!r}"
            )
        if expected_workers is not None and expected_workers < 1:
            raise ConfigurationError(f"expected_workers must be at least 1, got {expected_workers!r}")
        if when_unavailable not in ("local", "raise"):
            raise ConfigurationError(f"when_unavailable must be 'local' or 'raise', got {when_unavailable!r}")
        if redis_timeout <= 0 or recheck_after <= 0:
            raise ConfigurationError("redis_timeout and recheck_after must be positive")
        self._url: str | None = None  # kept out of repr: it may hold a password
        self._client: Redis | RedisCluster | None = None
        if isinstance(redis, str):
            if not redis.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigurationError(
                    f"{_display_url(redis)!r} is not a Redis URL: use redis://host:port/db, rediss://… or unix://…"
                )
            self._url = redis
            self._secrets = _url_secrets(redis)  # registered, so a log line that holds one is masked
            self._display = _display_url(redis)
        elif isinstance(redis, (Redis, RedisCluster)):
            self._client = redis
            self._display = f"the {type(redis).__name__} client passed in"
        else:
            raise ConfigurationError(f"redis must be a URL or a redis.asyncio client, got {type(redis).__name__}")
        self._owns_client = self._client is None
        self._namespace = namespace
        self._limits = limits if limits is not None else RateLimits()
        self._utilization = check_utilization(utilization)
        self._expected_workers = expected_workers
        self._when_unavailable: WhenUnavailable = when_unavailable
        self._redis_timeout = redis_timeout
        self._recheck_after = recheck_after
        self._paces: dict[str, Pace] = {}
        self._gates: dict[tuple[str, ...], asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._acquire_script: AsyncScript | None = None
        self._penalize_script: AsyncScript | None = None
        self._worker_id = f"{os.getpid()}-{secrets.token_hex(4)}"
        window = self._limits.window_seconds
        self._heartbeat_every = min(5.0, window / 4)
        self._next_heartbeat = -math.inf
        self._workers_seen = 0
        self._down_until = -math.inf  # loop time before which Redis is not asked again
        self._down = False
        self._fallback: LocalRateLimiter | None = None
        self._fallback_workers = 0

    # -- configuration views -------------------------------------------------------------------

    @property
    def limits(self) -> RateLimits:
        """The table this limiter enforces."""
        return self._limits

    @property
    def namespace(self) -> str:
        """The name of the shared budget (the Redis hash tag of its keys)."""
        return self._namespace

    @property
    def using_fallback(self) -> bool:
        """True while Redis is unreachable and this worker paces itself (``when_unavailable="local"``)."""
        return self._down

    def keys_for(self, method: str, path: str) -> tuple[str, ...]:
        """The limiter keys a request takes: the brand, plus its endpoint row if that is lower."""
        return keys_for(self._limits, method, path)

    def redis_key(self, key: str) -> str:
        """The Redis key holding the state of limiter key ``key`` (``"brand"`` or ``"METHOD /template"``)."""
        return f"qa:{{{self._namespace}}}:{key if key == 'brand' else 'route:' + key}"

    @property
    def workers_key(self) -> str:
        """The Redis key of the set of live workers (a heartbeat per worker)."""
        return f"qa:{{{self._namespace}}}:workers"

    def __repr__(self) -> str:
        state = "fallback" if self._down else "shared"
        return f"RedisRateLimiter(redis={self._display!r}, namespace={self._namespace!r}, state={state!r})"

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Leave the set of live workers and close the Redis client if this limiter opened it.

        Call it (or use ``async with``) before the event loop ends: Redis connections belong
        to one loop. A limiter used again under a new loop reconnects.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        client = self._client
        if client is None:
            return
        try:
            await self._bounded(client.zrem(self.workers_key, self._worker_id))
        except Exception as exc:  # best effort: the heartbeat expires anyway
            if not _is_redis_failure(exc):
                raise
        if self._owns_client:
            self._client = None
            self._acquire_script = self._penalize_script = None
            await client.aclose()

    def _redis(self) -> Redis | RedisCluster:
        client = self._client
        if client is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            assert self._url is not None
            # No socket timeouts of redis-py's own: they are asyncio.wait_for calls, which can
            # swallow a cancellation on Python 3.11. Every call is bounded by _bounded() instead.
            client = Redis.from_url(
                self._url,
                socket_timeout=None,
                socket_connect_timeout=None,
                retry=Retry(NoBackoff(), 1),  # one reconnect for a connection a restart closed
            )
            self._client = client
        if self._acquire_script is None or self._penalize_script is None:
            self._acquire_script = client.register_script(_ACQUIRE)
            self._penalize_script = client.register_script(_PENALIZE)
        return client

    async def _bounded(self, call: Awaitable[Any]) -> Any:
        """Await one Redis call within ``redis_timeout``, without losing a cancellation.

        On Python 3.11, ``asyncio.wait_for`` (which redis-py wraps around socket I/O) returns
        the result when a cancellation arrives in the step the I/O completes, so the task
        would carry on as if never cancelled; the cancellation is re-raised here instead.
        """
        task = asyncio.current_task()
        cancelling = task.cancelling() if task is not None else 0
        async with asyncio.timeout(self._redis_timeout):
            result = await call
        if task is not None and task.cancelling() > cancelling:
            raise asyncio.CancelledError
        return result

    # -- acquiring -------------------------------------------------------------------------------

    def _pace(self, key: str) -> Pace:
        pace = self._paces.get(key)
        if pace is None:
            pace = self._paces[key] = pace_for(self._limits, key, self._utilization)
        return pace

    def _gate(self, keys: tuple[str, ...]) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        gate = self._gates.get(keys)
        if gate is None:
            gate = self._gates[keys] = asyncio.Lock()
        return gate

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve another event loop (a client reopened under a new ``asyncio.run``).

        Locks and Redis connections belong to one loop: the gates are dropped, and so is a
        client this limiter made (its connections died with the old loop); a client passed
        in cannot be moved.
        """
        if self._loop is not None and self._client is not None:
            if not self._owns_client:
                raise ConfigurationError(
                    "this RedisRateLimiter was given a Redis client of another event loop; "
                    "make the client (and the limiter) inside the loop that uses them, or pass a URL"
                )
            self._client = None
            self._acquire_script = self._penalize_script = None
        self._gates.clear()
        self._loop = loop

    async def acquire(self, method: str, path: str) -> None:
        """Wait until every key of ``method path`` has room in the shared budget; see :class:`RateLimiter`."""
        keys = self.keys_for(method, path)
        if not keys:
            return
        async with self._gate(keys):  # FIFO: one head per key set talks to Redis
            while not self._skip_redis():
                try:
                    wait = await self._try(keys)
                except Exception as exc:
                    if not _is_redis_failure(exc):
                        raise
                    self._went_down(exc, method=method, path=path)
                    break
                if wait <= 0:
                    return
                await asyncio.sleep(wait)
        await self._local().acquire(method, path)

    async def _try(self, keys: tuple[str, ...]) -> float:
        """One atomic attempt: 0 when every key granted, else the seconds until they all can."""
        client = self._redis()
        assert self._acquire_script is not None
        loop = asyncio.get_running_loop()
        heartbeat = ""
        if loop.time() >= self._next_heartbeat:
            heartbeat = self._worker_id
            self._next_heartbeat = loop.time() + self._heartbeat_every
        window = self._limits.window_seconds
        args: list[str | float] = [
            window, RECOVERY_STEP, _KEEP_WINDOWS * window, heartbeat, 3 * self._heartbeat_every, MIN_MULTIPLIER,
        ]  # fmt: skip
        for key in keys:
            pace = self._pace(key)
            args += [pace.interval, pace.slack]
        granted, wait, workers = await self._bounded(
            self._acquire_script(keys=[*(self.redis_key(k) for k in keys), self.workers_key], args=args, client=client)
        )
        if int(workers) > 0:
            self._workers_seen = int(workers)
        self._came_back()
        return 0.0 if int(granted) else max(float(wait), 1e-6)

    # -- 429 feedback ----------------------------------------------------------------------------

    async def throttled(self, method: str, path: str, retry_after: float | None) -> None:
        """Share a 429 for ``method path``: every worker pauses and slows the key it tripped."""
        keys = self.keys_for(method, path)
        if not keys:
            return
        if not self._skip_redis():
            key = keys[-1]  # the endpoint row when it is stricter than the brand, else the brand
            window = self._limits.window_seconds
            pause = retry_after if retry_after is not None and retry_after > 0 else 0.0
            try:
                client = self._redis()
                assert self._penalize_script is not None
                lowered, multiplier, paused = await self._bounded(
                    self._penalize_script(
                        keys=[self.redis_key(key)],
                        args=[pause, window, DECREASE_FACTOR, MIN_MULTIPLIER, _KEEP_WINDOWS * window],
                        client=client,
                    )
                )
            except Exception as exc:
                if not _is_redis_failure(exc):
                    raise
                self._went_down(exc)  # the 429 is the caller's error to see, not this one
            else:
                self._came_back()
                if int(paused):
                    logger.warning(
                        "429 from Qualtrics on %s: every worker of namespace %r pauses %r for %g s (its "
                        "Retry-After); requests on it wait meanwhile",
                        f"{method} {path}",
                        self._namespace,
                        key,
                        pause,
                    )
                if int(lowered):
                    logger.warning(
                        "429 from Qualtrics on %s: every worker of namespace %r now paces %r at %.0f%% of its "
                        "configured rate until clean windows restore it",
                        f"{method} {path}",
                        self._namespace,
                        key,
                        float(multiplier) * 100,
                    )
                return
        await self._local().throttled(method, path, retry_after)

    # -- when Redis is down ----------------------------------------------------------------------

    def _skip_redis(self) -> bool:
        """True while Redis failed within the last ``recheck_after`` seconds."""
        return self._down and asyncio.get_running_loop().time() < self._down_until

    def _went_down(self, exc: BaseException, *, method: str | None = None, path: str | None = None) -> None:
        """Redis failed: raise (fail-fast policy, when acquiring) or switch to the fallback."""
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self._when_unavailable == "raise":
            if method is None:
                logger.warning(
                    "Redis at %s did not answer (%s): a 429 was not shared with other workers", self._display, reason
                )
                return
            raise RateLimiterUnavailableError(
                f"the shared rate limiter could not reach Redis at {self._display} ({reason}); start or "
                f"fix Redis, or pass when_unavailable='local' to pace each worker on its own meanwhile",
                method=method,
                path=path,
            ) from exc
        self._down_until = asyncio.get_running_loop().time() + self._recheck_after
        if self._down:
            logger.debug("Redis at %s still unreachable (%s)", self._display, reason)
            return
        self._down = True
        self._local()  # built now, so the warning states the share in use
        known = self._expected_workers or self._workers_seen
        hint = "" if known else " (Redis was never reached: pass expected_workers= to share the limits)"
        logger.warning(
            "Redis at %s is unreachable (%s): pacing this worker on its own at 1/%d of the brand's limits%s, "
            "and trying Redis again every %g s",
            self._display,
            reason,
            self._fallback_workers,
            hint,
            self._recheck_after,
        )

    def _came_back(self) -> None:
        if self._down:
            self._down = False
            logger.warning("Redis at %s answers again: back to the shared budget", self._display)

    def _local(self) -> LocalRateLimiter:
        """The fallback limiter, at 1/workers of every limit.

        Built at the first outage and kept, so a flapping Redis does not reset its pace; built
        again only when the number of workers to share with has changed.
        """
        workers = self._expected_workers or self._workers_seen or 1
        if self._fallback is None or workers != self._fallback_workers:
            self._fallback = LocalRateLimiter(scaled(self._limits, 1 / workers), utilization=self._utilization)
            self._fallback_workers = workers
        return self._fallback
