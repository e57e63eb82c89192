"""The request pipeline: the one place a request is built, sent, retried and decoded.

call deadline → [ attempt: limiter.acquire(brand + endpoint) → auth header → send →
read (attempt deadline) → classify → retry? (release the connection, then sleep) ]
→ decode the envelope → map errors
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

import aiohttp
import anyio
import msgspec
from multidict import CIMultiDictProxy
from yarl import URL

from qualtrics_async._auth import Auth, TokenUnavailable
from qualtrics_async._config import API_PREFIX, Endpoint, RetryPolicy, SizeLimits, Timeouts, is_qualtrics_host_url
from qualtrics_async._decoding import Envelope, Meta, NestingTooDeepError, decode, json_encoder
from qualtrics_async._logging import logger, warn_once
from qualtrics_async._ratelimit import RateLimiter
from qualtrics_async._retry import (
    RETRYABLE_STATUSES,
    Decision,
    Failure,
    RetryBudget,
    decide,
    is_idempotent,
)
from qualtrics_async._sansio import (
    CallInfo,
    decode_failure,
    parse_retry_after,
    protocol_error,
    status_code_of,
    status_error,
    too_large,
)
from qualtrics_async._secret import redact
from qualtrics_async._transport import attempt_client_timeout, read_bounded, read_capped
from qualtrics_async.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    ConfigurationError,
    QualtricsError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TLSError,
    UnsafeURLError,
)

T = TypeVar("T")
QueryParams = Mapping[str, str | int | float | bool]
_TARGET_CACHE_SIZE = 2048
_CLOSED = "qualtrics_async: client closed"


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved request target: the URL to send and the API path for limits and messages."""

    url: URL
    path: str


@dataclass(slots=True)
class Answer:
    """A decoded 2xx answer."""

    result: Any
    meta: Meta | None
    status: int
    headers: CIMultiDictProxy[str] | None = None


class _BadBody(Exception):
    """A 2xx body that could not be decoded; carries the error to raise if not retried."""

    def __init__(self, error: ResponseDecodeError, retryable: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable


class Session:
    """Sends requests for a client. Not public: use :class:`qualtrics_async.QualtricsClient`."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        endpoint: Endpoint,
        auth: Auth,
        limiter: RateLimiter | None,
        retry: RetryPolicy,
        timeouts: Timeouts,
        pool_size: int = 100,
        rng: random.Random | None = None,
        limits: SizeLimits | None = None,
    ) -> None:
        self.http = http
        self.limits = limits or SizeLimits()
        self.endpoint = endpoint
        self.auth = auth
        self.limiter = limiter
        self.retry = retry
        self.timeouts = timeouts
        self.budget = RetryBudget(retry)
        self._attempt_timeout = attempt_client_timeout(timeouts, timeouts.attempt)
        self._api_root = str(endpoint.api_root)
        self._targets: dict[str, Target] = {}
        # One slot per connection of the pool: a request holding a slot never waits for a
        # connection inside its attempt timeout (and is never blamed for the pool's queue).
        self._slots = asyncio.Semaphore(pool_size)
        self._waiting: set[asyncio.Task[Any]] = set()  # suspended in a wait aclose() may interrupt
        self._close_cancelled: set[asyncio.Task[Any]] = set()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.closed = False

    # -- targets ---------------------------------------------------------------------------

    def target(self, path_or_url: str, params: QueryParams | None = None) -> Target:
        """Resolve an API path (``/surveys/SV_1``) or a same-origin absolute URL (a ``nextPage``).

        Absolute URLs are kept verbatim (Qualtrics' ``nextPage`` must not be rebuilt) and
        refused when they point to another origin, which would hand the token to it.
        """
        if params:
            base = self.target(path_or_url)
            return Target(base.url.update_query({k: _query_value(v) for k, v in params.items()}), base.path)
        cached = self._targets.get(path_or_url)
        if cached is not None:
            return cached
        target = self._resolve(path_or_url)
        if len(self._targets) >= _TARGET_CACHE_SIZE:
            self._targets.clear()  # ids make paths unbounded; a wholesale reset keeps this O(1)
        self._targets[path_or_url] = target
        return target

    def _resolve(self, path_or_url: str) -> Target:
        if "://" in path_or_url:
            try:
                url = URL(path_or_url, encoded=True)
                _ = (url.host, url.port)  # yarl decodes (IDNA) and checks the host only when asked
            except ValueError as exc:  # UnicodeError included
                raise UnsafeURLError(f"refusing a URL that does not parse ({exc.__class__.__name__})") from None
            if not self.endpoint.same_origin(url) and is_qualtrics_host_url(url):
                # A proxied answer names the datacenter that served it in its nextPage
                # (recorded: a call to co1 paged on az1). Qualtrics proxies between its hosts,
                # so the page is asked of our own origin: the token never leaves it
                # (docs/pagination.md; to verify on a live tenant).
                query = f"?{url.raw_query_string}" if url.raw_query_string else ""
                url = URL(f"{self.endpoint.origin}{url.raw_path}{query}", encoded=True)
            if not self.endpoint.same_origin(url):
                raise UnsafeURLError(
                    f"refusing to send credentials to {url.origin()!s}: it is not the configured origin "
                    f"{self.endpoint.origin!s} (a nextPage or redirect on another host, scheme or port)"
                )
            if not (url.raw_path + "/").startswith(API_PREFIX + "/") or _may_climb(url.raw_path):
                raise UnsafeURLError(f"refusing a URL outside {API_PREFIX}: {url.raw_path!r}")
            path = url.raw_path[len(API_PREFIX) :] or "/"
        else:
            if not path_or_url.startswith("/"):
                path_or_url = "/" + path_or_url
            if path_or_url.startswith(API_PREFIX + "/"):
                path_or_url = path_or_url[len(API_PREFIX) :]
            raw_path = path_or_url.partition("?")[0]
            if _has_dot_segment(raw_path) or "//" in raw_path:
                raise ConfigurationError(
                    f"path {raw_path!r} has empty or dot segments; build paths with qualtrics_async.build_path()"
                )
            url = URL(self._api_root + path_or_url)
            path = raw_path
        return Target(url, path)

    def next_page_target(self, next_page: str) -> Target:
        """The target of a server-given ``nextPage``; one that is unsafe is the server's doing,
        so it raises :class:`UnsafeURLError` (a path of the caller's raises ``ConfigurationError``).

        A relative one is held to the rule of absolute URLs: no encoded ``/`` or ``\\``, which
        a server decoding them could read as segment breaks. (A caller's path may hold ``%2F``:
        :func:`build_path` writes a ``/`` inside an id that way, as one segment.)
        """
        if "://" not in next_page and _may_climb(next_page.partition("?")[0]):
            raise UnsafeURLError(f"refusing a nextPage whose path could leave {API_PREFIX}: {next_page[:200]!r}")
        try:
            return self.target(next_page)
        except ConfigurationError:
            raise UnsafeURLError(
                f"refusing a nextPage whose path could leave {API_PREFIX}: {next_page[:200]!r}"
            ) from None

    # -- the pipeline ------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path_or_url: str,
        *,
        params: QueryParams | None = None,
        json: Any = None,
        decoder: msgspec.json.Decoder[Envelope[Any]],
        expect_result: bool = True,
        idempotent: bool | None = None,
        timeout: float | None = None,
        content: bytes | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> Answer:
        """Send one API call through the whole pipeline and return its decoded answer.

        The body is ``json`` (encoded here) or raw ``content`` bytes sent as ``content_type``
        (a CSV file, a multipart form); ``headers`` are added to every attempt.
        """
        method = method.upper()
        target = self.target(path_or_url, params)
        if content is not None and json is not None:
            raise ConfigurationError("pass a JSON body or raw content, not both")
        body = content if content is not None else None if json is None else json_encoder.encode(json)
        extra: Callable[[], Mapping[str, str]] | None = None
        if headers:
            _check_headers(headers)
            extra = functools.partial(dict, headers)

        async def decode(resp: aiohttp.ClientResponse, call: CallInfo) -> Answer:
            raw = await read_bounded(resp, self.limits.json_bytes)
            if raw is None:
                raise too_large(
                    f"HTTP {resp.status} answer", self.limits.json_bytes, "json_bytes", call, status=resp.status
                )
            return self._decode(raw, resp.status, resp.headers, decoder, expect_result, call)

        return await self.send(
            method,
            target,
            body=body,
            on_success=decode,
            idempotent=idempotent,
            timeout=timeout,
            attempt_timeout=self.timeouts.attempt,
            content_type=content_type,
            extra_headers=extra,
            on_send=on_send,
        )

    async def send(
        self,
        method: str,
        target: Target,
        *,
        body: bytes | None,
        on_success: Callable[[aiohttp.ClientResponse, CallInfo], Awaitable[T]],
        idempotent: bool | None = None,
        timeout: float | None = None,
        attempt_timeout: float | None,
        content_type: str = "application/json",
        extra_headers: Callable[[], Mapping[str, str]] | None = None,
        no_deadline: bool = False,
        on_send: Callable[[], None] | None = None,
    ) -> T:
        """Run the attempt loop; ``on_success`` consumes a 2xx response (read JSON, stream a file).

        The call deadline is enforced without a cancel scope on the hot path (a scope costs
        more than the rest of the pipeline): each attempt's aiohttp total timeout is cut to
        the time left, waits for the limiter, a connection slot or a token are bounded, and
        no backoff sleeps past it. ``no_deadline`` lifts it (a long download, bounded by
        ``sock_read`` silence instead); ``extra_headers`` is called before each attempt (a
        resumed download asks for the bytes it still lacks); ``on_send`` just before each
        attempt goes out.
        """
        if self.closed or self.http.closed:
            raise ClientClosedError(
                "the client is closed: use it inside 'async with QualtricsClient(...) as client:'",
                method=method,
                path=target.path,
            )
        safe_to_repeat = is_idempotent(method, target.path) if idempotent is None else idempotent
        deadline = None if no_deadline else timeout if timeout is not None else self.timeouts.call
        loop = asyncio.get_running_loop()
        started = loop.time()  # the monotonic clock, like time.monotonic()
        deadline_at = None if deadline is None else started + deadline
        attempt = 0
        refreshed = False
        effect_possible = False  # whether an attempt so far may have reached Qualtrics and been acted on
        sending = False
        task = asyncio.current_task()
        try:
            while True:
                failure: Failure
                retry_after: float | None = None
                error: QualtricsError
                if self.limiter is None and not self._slots.locked():
                    await self._slots.acquire()  # the common case: returns without suspending
                else:
                    with self._interruptible(task):
                        await self._admit(method, target.path, deadline_at)
                attempt += 1  # counted once admitted: a deadline reached while queueing sent nothing
                bounded_by_deadline = False
                sending = False
                try:
                    header = self.auth.cached_header()
                    if header is None:
                        with self._interruptible(task):
                            header = await self._fetch_header(deadline_at, loop)
                    if deadline_at is None and attempt_timeout == self.timeouts.attempt:
                        client_timeout = self._attempt_timeout
                    else:
                        client_timeout, bounded_by_deadline = self._attempt_timeout_for(
                            attempt_timeout, deadline_at, loop
                        )
                    headers = dict(extra_headers()) if extra_headers is not None else {}
                    if body is not None:
                        headers["Content-Type"] = content_type
                    headers[header[0]] = header[1]  # last: nothing else may stand in for the credentials
                    if on_send is not None:
                        on_send()
                    sending = True
                    async with self.http.request(
                        method, target.url, data=body, headers=headers, allow_redirects=False, timeout=client_timeout
                    ) as resp:
                        status = resp.status
                        if 200 <= status < 300:
                            result = await on_success(
                                resp, CallInfo(method, target.path, attempt, loop.time() - started)
                            )
                            self.budget.refund()
                            logger.debug("%s %s -> %d (attempt %d)", method, target.path, status, attempt)
                            return result
                        raw = await read_capped(resp, self.limits.error_bytes)
                        reason, resp_headers = resp.reason or "", resp.headers
                    logger.debug("%s %s -> %d (attempt %d)", method, target.path, status, attempt)
                except TokenUnavailable as unavailable:  # the API request itself was never sent
                    failure, error = Failure.NOT_SENT, unavailable.error
                    if isinstance(error, RateLimitError):
                        retry_after = error.retry_after
                except _BadBody as bad:
                    if not bad.retryable:
                        bad.error.may_have_taken_effect = True  # a 2xx: it was acted on
                        raise bad.error from None
                    failure, error = Failure.BAD_BODY, bad.error
                except aiohttp.ClientError as exc:  # before TimeoutError: aiohttp's timeouts subclass it
                    failure, error = self._classify_exception(exc, method, target.path)
                except TimeoutError:  # aiohttp's total for the attempt, or the deadline while minting a token
                    effect_possible = effect_possible or sending
                    if bounded_by_deadline or (deadline_at is not None and loop.time() >= deadline_at):
                        raise  # reported as the call deadline below
                    failure = Failure.TIMEOUT
                    error = APITimeoutError(
                        f"no complete answer within the attempt timeout of {attempt_timeout} s (Timeouts.attempt)",
                        method=method,
                        path=target.path,
                    )
                except ServerError as exc:  # a 5xx in meta.httpStatus
                    failure, error = Failure.SERVER, exc
                else:
                    # An error status; the connection is already released (the `async with` closed).
                    if status == 401 and self.auth.can_refresh and not refreshed:
                        refreshed = True
                        self.auth.invalidate(header[1])
                        attempt -= 1  # the refresh retry is free: the request was rejected, not processed
                        continue
                    retry_after = parse_retry_after(resp_headers.get("Retry-After"), now=time.time())
                    call = CallInfo(method, target.path, attempt, loop.time() - started)
                    error = status_error(status, reason, raw, resp_headers, call, retry_after=retry_after)
                    if status == 429:
                        failure = Failure.THROTTLED
                        if self.limiter is not None:
                            # Only a Retry-After this call waits out itself pauses the key; a
                            # longer one fails this call and just slows the key, so other calls
                            # are not held silently (docs/rate-limits.md, "A very long Retry-After").
                            honoured = retry_after is not None and retry_after <= self.retry.max_retry_after
                            await self.limiter.throttled(method, target.path, retry_after if honoured else None)
                    elif status in RETRYABLE_STATUSES:
                        failure = Failure.SERVER
                    else:
                        error.may_have_taken_effect = effect_possible  # refused, this time
                        raise error
                finally:
                    self._slots.release()
                effect_possible = effect_possible or failure not in (Failure.NOT_SENT, Failure.THROTTLED)
                decision = decide(
                    failure,
                    idempotent=safe_to_repeat,
                    attempt=attempt,
                    policy=self.retry,
                    budget=self.budget,
                    retry_after=retry_after,
                    rng=self._rng,
                )
                if decision.retry and deadline_at is not None and loop.time() + decision.delay >= deadline_at:
                    decision = Decision(
                        False, reason=f"the call's deadline of {deadline:g} s comes before the next try"
                    )
                if not decision.retry:
                    error.may_have_taken_effect = effect_possible
                    raise self._final(error, attempt, loop.time() - started, decision)
                self._log_retry(method, target.path, attempt, decision, error)
                with self._interruptible(task):
                    await anyio.sleep(decision.delay)
        except QualtricsError as exc:
            # Raised from inside an attempt (a token refusal, a 2xx with an error in meta): it
            # may have taken effect only if the request itself went out.
            if exc.may_have_taken_effect is None:
                exc.may_have_taken_effect = effect_possible or sending
            raise
        except TimeoutError:
            timed_out = APITimeoutError(
                f"the call did not finish within its deadline of {deadline:g} s (Timeouts.call or timeout=)",
                method=method,
                path=target.path,
                attempts=attempt,
                elapsed=loop.time() - started,
            )
            # An attempt cut by the deadline may have been sent; one never admitted was not.
            timed_out.may_have_taken_effect = effect_possible
            raise timed_out from None
        except asyncio.CancelledError:
            # Undo exactly the one cancellation aclose() asked for, whatever cancellation was
            # delivered first; any other pending cancellation still propagates.
            if task is not None and task in self._close_cancelled:
                self._close_cancelled.discard(task)
                if task.uncancel() == 0:
                    raise ClientClosedError(
                        "the client was closed while this call was waiting", method=method, path=target.path
                    ) from None
            raise
        except RuntimeError:
            if self.closed or self.http.closed:  # aiohttp: "Session is closed"
                raise ClientClosedError(
                    "the client was closed while this request was in flight", method=method, path=target.path
                ) from None
            raise

    async def _admit(self, method: str, path: str, deadline_at: float | None) -> None:
        """Take a rate-limit grant, then a connection slot; on return the caller holds a slot.

        The grant comes first, so waiting for a slow endpoint's turn never holds a connection
        that a fast endpoint could use. When every connection is busy, the pool rather than
        the limiter sets the pace: sends then follow response completions, which stay within
        the limits unless response times vary by more than the limiter's headroom (3 s of a
        60 s window at the default utilization); a 429 then slows the pacer down.
        """
        async with asyncio.timeout_at(deadline_at) if deadline_at is not None else nullcontext():
            if self.limiter is not None:
                await self.limiter.acquire(method, path)
            await self._slots.acquire()

    async def _fetch_header(self, deadline_at: float | None, loop: asyncio.AbstractEventLoop) -> tuple[str, str]:
        """The auth header when a token must be minted first, within the call deadline."""
        if deadline_at is None:
            return await self.auth.header(self.http)
        async with asyncio.timeout_at(deadline_at):
            return await self.auth.header(self.http)

    async def aclose(self) -> None:
        """Close the session: calls in flight or waiting raise ClientClosedError promptly."""
        self.closed = True
        self.auth.close()
        # Only tasks suspended in one of our own waits are cancelled: the CancelledError is
        # then delivered at that wait, where send() turns it into ClientClosedError. (A
        # task in the middle of an HTTP exchange fails when the session's connections close.)
        for task in list(self._waiting):
            if task is not asyncio.current_task() and task.cancel(_CLOSED):
                self._close_cancelled.add(task)

    @contextmanager
    def _interruptible(self, task: asyncio.Task[Any] | None) -> Iterator[None]:
        """Mark a wait (limiter, connection slot, token, backoff) that closing the client interrupts."""
        if task is None:
            yield
            return
        self._waiting.add(task)
        try:
            yield
        finally:
            self._waiting.discard(task)

    def _attempt_timeout_for(
        self, attempt_timeout: float | None, deadline_at: float | None, loop: asyncio.AbstractEventLoop
    ) -> tuple[aiohttp.ClientTimeout, bool]:
        """aiohttp's timeouts for one attempt, and whether the call deadline (not the attempt limit) binds.

        aiohttp's ``total`` bounds the headers and the body together, so a server dripping
        one byte at a time cannot hold an attempt open past it.
        """
        total, bounded = attempt_timeout, False
        if deadline_at is not None:
            left = deadline_at - loop.time()
            if left <= 0:
                raise TimeoutError
            if total is None or left < total:
                total, bounded = left, True
        if total == self.timeouts.attempt:
            return self._attempt_timeout, bounded
        return attempt_client_timeout(self.timeouts, total), bounded

    def _classify_exception(self, exc: aiohttp.ClientError, method: str, path: str) -> tuple[Failure, QualtricsError]:
        detail = redact(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, aiohttp.ClientSSLError):
            raise TLSError(
                f"TLS failure talking to {self.endpoint.origin.host}: {detail}. Certificates are always "
                "verified; pass ssl_context= with your CA if you use a TLS-inspecting proxy",
                method=method,
                path=path,
            ) from None
        if self.closed or self.http.closed:
            raise ClientClosedError(
                "the client was closed while this request was in flight", method=method, path=path
            ) from None
        if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            return Failure.NOT_SENT, APIConnectionError(
                f"could not connect to {self.endpoint.origin!s} ({detail}); check the datacenter/base URL "
                "and your network",
                method=method,
                path=path,
            )
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return Failure.TIMEOUT, APITimeoutError(
                f"the server went silent for longer than Timeouts.sock_read ({detail})", method=method, path=path
            )
        if isinstance(exc, aiohttp.InvalidURL):
            raise ConfigurationError(f"invalid URL: {detail}", method=method, path=path) from None
        return Failure.DROPPED, APIConnectionError(
            f"the connection failed mid-request ({detail}); if this persists, check the network and any proxy "
            "between you and Qualtrics",
            method=method,
            path=path,
        )

    @staticmethod
    def _final(error: QualtricsError, attempt: int, elapsed: float, decision: Decision) -> QualtricsError:
        error.attempts = attempt
        error.elapsed = elapsed
        if decision.reason and not decision.reason.startswith("gave up"):  # __str__ shows attempts
            error.message = f"{error.message}; {decision.reason}"
        return error

    def _log_retry(self, method: str, path: str, attempt: int, decision: Decision, error: QualtricsError) -> None:
        logger.info(
            "retrying %s %s in %.2f s (attempt %d failed: %s)",
            method,
            path,
            decision.delay,
            attempt,
            error.message,
        )

    # -- decoding ----------------------------------------------------------------------------

    def _decode(
        self,
        raw: bytes | bytearray,
        status: int,
        headers: CIMultiDictProxy[str],
        decoder: msgspec.json.Decoder[Envelope[Any]],
        expect_result: bool,
        call: CallInfo,
    ) -> Answer:
        if status == 204 and expect_result:
            message = "HTTP 204 answer has no body, where this call expects a result"
            raise _BadBody(protocol_error(message, status, call), False)
        if status == 204 or (not raw and not expect_result):
            return Answer(None, None, status, headers)
        try:
            envelope = decode(decoder, raw)
        except msgspec.ValidationError as exc:
            content_type = headers.get("Content-Type", "")
            raise _BadBody(decode_failure(exc, raw, status, content_type, call, _request_id(raw)), False) from None
        except msgspec.DecodeError as exc:
            content_type = headers.get("Content-Type", "")
            # Garbage may be a transport fault worth another try; a body nested too deeply is not.
            retry = not isinstance(exc, NestingTooDeepError)
            raise _BadBody(decode_failure(exc, raw, status, content_type, call), retry) from None
        meta = envelope.meta
        if meta is not None and meta.notice:
            host = self.endpoint.origin.host or ""
            warn_once(f"notice:{self.endpoint.origin}", "Qualtrics notice for %s: %s", host, meta.notice)
        if meta is not None and meta.httpStatus is not None and not meta.httpStatus.startswith("2"):
            meta_status = status_code_of(meta)
            if meta_status is not None and not 200 <= meta_status < 300:
                raise status_error(meta_status, "(in meta.httpStatus)", raw, headers, call, meta=meta)
        if envelope.result is msgspec.UNSET or (envelope.result is None and expect_result):
            if meta is None:
                message = f"HTTP {status} answer is JSON but not a Qualtrics envelope (no 'result' nor 'meta')"
                raise _BadBody(protocol_error(message, status, call), True)
            if expect_result:
                message = f"HTTP {status} answer has no 'result' (meta.httpStatus {meta.httpStatus!r})"
                raise _BadBody(protocol_error(message, status, call, meta.requestId), False)
            return Answer(None, meta, status, headers)
        return Answer(envelope.result, meta, status, headers)


_RESERVED_HEADERS = frozenset(
    {"x-api-token", "authorization", "cookie", "host", "content-type", "content-length", "transfer-encoding"}
)


def _check_headers(headers: Mapping[str, str]) -> None:
    """Refuse extra headers that would replace the client's own (credentials, framing) or
    smuggle a header line; nothing is sent."""
    for name, value in headers.items():
        if name.lower() in _RESERVED_HEADERS:
            raise ConfigurationError(
                f"the header {name!r} is set by the client (credentials, host and body framing); "
                "pass the body with content=/content_type= and credentials to QualtricsClient"
            )
        if any(c in f"{name}{value}" for c in "\r\n\0"):
            raise ConfigurationError(f"the header {name!r} holds a line break or NUL; remove it")


def _has_dot_segment(path: str) -> bool:
    """Whether a raw path has a ``.``/``..`` segment, however it is percent-encoded (``.%2e``,
    ``%2E.``), or one with ``;`` parameters (``..;``, which some servers treat as ``..``)."""
    return any(unquote(segment).partition(";")[0] in (".", "..") for segment in path.split("/"))


def _may_climb(path: str) -> bool:
    """Whether a server-given path could climb out of ``/API/v3`` once the server decodes it:
    a dot segment, or a ``/`` or ``\\`` written so that it does not split segments here."""
    return "\\" in path or bool(re.search(r"%(2f|5c)", path, re.IGNORECASE)) or _has_dot_segment(path)


class _RequestIdOnly(msgspec.Struct):
    meta: Meta | None = None


_request_id_decoder = msgspec.json.Decoder(_RequestIdOnly)


def _request_id(raw: bytes | bytearray) -> str | None:
    try:
        meta = decode(_request_id_decoder, raw).meta
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return meta.requestId if meta else None


def _query_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["APIStatusError", "Answer", "QueryParams", "Session", "Target"]
