"""`QualtricsEmulator`: a loopback HTTP server that behaves like the Qualtrics v3 API.

Behaviour comes from ``qualtrics-api.md`` (envelope §2, auth §1.4–1.5, pagination §3, rate
limits §4, response exports §6 -- see ``_exports`` --, XM Directory §8), never from what a
client happens to do. Every request goes through the same pipeline::

    authentication (/API/v3 only) -> rate limit -> injected fault -> route (+ OAuth scope) -> envelope

Authentication answers as recorded: a request with no credentials at all (no
``X-API-TOKEN`` header and no ``Authorization: Bearer`` token) is a **400** with ``errorCode``
``ATP_2``, "Expected authorization in headers, but none provided." (not a 401); a wrong API
token, or an unknown or expired access token, is a 401 (docs/fidelity.md). Limits are per
brand (docs/rate-limits.md), so a request that cannot be tied to a brand (no valid credentials)
is answered without being counted; no source says which check Qualtrics runs first (a
documented choice).

Envelopes are the recorded ones: ``meta {httpStatus, requestId}`` plus ``error {errorMessage,
errorCode}`` on errors. A path no route serves gets the gateway's own recorded not-found
answer: 404 with ``error {errorMessage: "The requested resource does not exist."}`` and no
``errorCode`` or ``requestId``. Recorded answers often carry ``meta.notice`` ("Request
proxied. For faster response times, use this host instead: az1.qualtrics.com") when the call
went to another datacenter than the brand's: set :attr:`QualtricsEmulator.proxied_host` (or
the ``proxied_host`` option) and every ``/API/v3`` answer carries that notice for the host
given; ``inject(..., notice=...)`` puts any notice on chosen answers only. See
``docs/fidelity.md`` for what rests on recordings and what on the fact sheet alone.

The server is aiohttp's low-level ``web.Server`` with one handler, so unknown paths,
throttling and faults are all answered by this module rather than by a router.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import inspect
import math
import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self, TypedDict, Unpack

from aiohttp import web
from multidict import MultiMapping
from yarl import URL

from qualtrics_async._ratelimit import RateLimits
from qualtrics_async.testing import _faults
from qualtrics_async.testing._data import EmulatorData, Json, build_data, contact_element
from qualtrics_async.testing._directory import DirectoryRoutes
from qualtrics_async.testing._exports import (
    DEFAULT_EXPORT_SECONDS,
    FILE_TTL,
    MAX_FILE_BYTES,
    ExportEngine,
    ExportJobInfo,
    ExportStats,
)
from qualtrics_async.testing._families import family_providers
from qualtrics_async.testing._faults import Fault, FaultTable, Reply
from qualtrics_async.testing._routing import (
    ApiError,
    FamilyContext,
    Handler,
    RouteSpec,
    SkipTokens,
    offset_page,
    skip_page,
    survey_not_found,
)
from qualtrics_async.testing._server_limits import LimitMode, ServerLimiter

API_PREFIX = "/API/v3"
OAUTH_PATH = "/oauth2/token"

DEFAULT_RATE_LIMITS = RateLimits()
"""The published table (qualtrics-api.md §4.2 + the 3000/min brand ceiling)."""

# Page sizes, qualtrics-api.md §3; every cap there is UNCERTAIN ("safe maxima, not proven
# maxima"). Documented choices: contacts answer 400 above 100 ("1..100, default 100" per two
# sources), or above 1000 with useNewPaginationScheme=true (one client pages 1000 that way);
# surveys and directories clamp a larger value rather than invent a hard error.
SURVEYS_PAGE_SIZE = 100
CONTACTS_PAGE_SIZE = 100
CONTACTS_PAGE_SIZE_NEW_SCHEME = 1000
DIRECTORIES_PAGE_SIZE = 5  # "max and default is 5" per one client's doc comment (UNCERTAIN)

LOG_CAPACITY = 200_000

# The scope family each route needs (qualtrics-api.md §1.5: read:/manage: + resource).
_SCOPE_FAMILIES: dict[str, str] = {
    "/surveys": "surveys",
    "/surveys/{surveyId}": "surveys",
    "/surveys/{surveyId}/export-responses": "survey_responses",
    "/surveys/{surveyId}/export-responses/{exportProgressId}": "survey_responses",
    "/surveys/{surveyId}/export-responses/{fileId}/file": "survey_responses",
    "/directories": "directories",
    "/directories/{directoryId}/contacts": "directory_contacts",
    "/directories/{directoryId}/contacts/{contactId}": "directory_contacts",
}
# POSTs that only read data: starting a response export needs read:survey_responses, not
# manage: (a documented choice; the fact sheet lists the scopes, not which call needs which).
_READING_POSTS = frozenset(
    {
        "/surveys/{surveyId}/export-responses",
        "/directories/{directoryId}/contacts/search",
        "/directories/{directoryId}/export-contacts",
    }
)
EXPORT_FILES = "/surveys/*/export-responses/*/file"
"""Fault path pattern matching every export file download."""

# Plausible Qualtrics-style codes (the real ones look like BRE_0.5, AuthZ_2.0, SURVEYS_1.2);
# only the family/number shape is modelled, not any verified value.
_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BRE_0.1", "Invalid request. Check the query parameters and request body."),
    401: ("AUTH_1.1", "Authentication failed: invalid credentials."),
    403: ("AuthZ_1.0", "You do not have permission to perform this action."),
    404: ("RNF_0.1", "The requested resource was not found."),
    409: ("CONFLICT_0.1", "The request conflicts with an existing resource."),
    413: ("BRE_0.4", "The request entity is too large."),
    429: ("RATE_0.1", "Too many requests. Please slow down and try again later."),
    500: ("SERVER_0.1", "An internal server error occurred."),
    502: ("GATEWAY_0.1", "Bad gateway."),
    503: ("SERVER_0.3", "Temporary internal server error. Please try again later."),
    504: ("GATEWAY_0.2", "Gateway timeout."),
}
_PHRASES = {503: "Temporary Internal Server Error"}  # observed spelling, qualtrics-api.md §2.1
PROXY_NOTICE = "Request proxied. For faster response times, use this host instead: {host}"
"""The recorded ``meta.notice`` of a call answered by another datacenter than the brand's."""
MISSING_CREDENTIALS = "Expected authorization in headers, but none provided."
"""The recorded ``errorMessage`` of a call without credentials (400, ``ATP_2``)."""
NOT_FOUND_MESSAGE = "The requested resource does not exist."
"""The recorded ``errorMessage`` of the gateway's 404 for a path no endpoint serves."""
_ID_SEGMENT = re.compile(r"[A-Za-z]+_[A-Za-z0-9]+|\d+|[0-9a-fA-F-]{16,}")

_LOOPBACK_FOR = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - mapping, not binding

LogEntry = tuple[float, str, str, int]
"""``(monotonic arrival time, method, path, status)``; status 0 = no response was sent."""


class EmulatorOptions(TypedDict, total=False):
    """Keyword arguments of :class:`QualtricsEmulator` (for ``in_thread`` and ``serve``)."""

    host: str
    port: int
    seed: int
    api_token: str
    client_id: str
    client_secret: str
    token_ttl: float
    rate_limits: RateLimits | None
    limit_mode: LimitMode
    retry_after_header: bool
    surveys: int
    contacts: int
    oauth_scopes: Collection[str]
    export_seconds: float
    file_ttl: float
    export_max_bytes: int
    csv_bom: bool
    proxied_host: str | None
    proxy_next_pages: bool


@dataclass(eq=False)
class EmulatorStats:
    """Counters of what the emulator saw, for assertions and benchmarks.

    Attributes:
        requests: every request received (API, token endpoint, unknown paths).
        by_route: requests per rate-limit route key (``"GET /surveys/{surveyId}"``), or per
            emulator route / ``"METHOD /path/{id}"`` template when no table row applies.
        throttled: requests answered 429 by the rate limiter (not by an injected fault).
        faults_fired: requests an injected fault applied to.
        tokens_issued: OAuth access tokens minted.
        statuses: final HTTP status per request (0 = none sent: dropped, hung, cancelled).
        log: the last 200,000 requests as :data:`LogEntry` tuples, appended when a request
            finishes but stamped with its arrival time (so not strictly sorted).

    The emulator mutates these from its own event loop; from another thread (``in_thread``),
    read copies (``stats.log.copy()``, ``Counter(stats.statuses)``).
    """

    requests: int = 0
    throttled: int = 0
    faults_fired: int = 0
    tokens_issued: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    log: deque[LogEntry] = field(default_factory=lambda: deque(maxlen=LOG_CAPACITY))

    def reset(self) -> None:
        """Zero every counter and clear the log, in place."""
        self.requests = self.throttled = self.faults_fired = self.tokens_issued = 0
        self.by_route.clear()
        self.statuses.clear()
        self.log.clear()

    def max_in_window(self, window: float, *, exclude_statuses: Collection[int] = (429,)) -> int:
        """Most logged requests whose arrival times lie within ``window`` seconds of each other.

        Compare with a limit: the sliding limiter guarantees at most N admitted requests
        in any window. 429 answers are excluded by default (they were not admitted).
        """
        return max_in_window((t for t, _m, _p, status in self.log.copy() if status not in exclude_statuses), window)


def max_in_window(times: Iterable[float], window: float) -> int:
    """The most of ``times`` (any order) that lie within ``window`` seconds of each other.

    This is what a strict sliding-window limit of N per ``window`` bounds by N.
    """
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


_ApiError = ApiError  # a 4xx answer from a route (raise it; the pipeline wraps it in the envelope)

_Handler = Handler


class _Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: _Handler


class _Match(NamedTuple):
    template: str
    handler: _Handler
    params: dict[str, str]


class _TokenStore:
    """OAuth access tokens and their monotonic expiry times (thread-safe)."""

    _PRUNE_AT = 10_000

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._scopes: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def issue(self, ttl: float, scopes: frozenset[str]) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            if len(self._expiry) >= self._PRUNE_AT:
                self._expiry = {t: at for t, at in self._expiry.items() if at > now}
                self._scopes = {t: s for t, s in self._scopes.items() if t in self._expiry}
            self._expiry[token] = now + ttl
            self._scopes[token] = scopes
        return token

    def check(self, token: str) -> Literal["valid", "expired", "unknown"]:
        with self._lock:
            expires_at = self._expiry.get(token)
        if expires_at is None:
            return "unknown"
        return "valid" if time.monotonic() < expires_at else "expired"

    def scopes(self, token: str) -> frozenset[str]:
        with self._lock:
            return self._scopes.get(token, frozenset())

    def expire_all(self) -> None:
        with self._lock:
            self._expiry = dict.fromkeys(self._expiry, -math.inf)


class QualtricsEmulator:
    """An in-process Qualtrics v3 API over real loopback HTTP.

    Args:
        host, port: where to listen (port 0 picks a free port; read :attr:`base_url`).
        seed: seeds the generated :attr:`data`; the same seed gives the same data.
        api_token: the accepted ``X-API-TOKEN`` value.
        client_id, client_secret: the OAuth client accepted by ``POST /oauth2/token``.
        token_ttl: lifetime of minted access tokens, in seconds (``expires_in``).
        rate_limits: limits enforced server-side on every ``/API/v3`` request (brand key +
            endpoint key); defaults to the published table, ``None`` disables enforcement.
        limit_mode: ``"leaky"`` (default: the leaky bucket the fact sheet names, capacity N
            per window, an UNCERTAIN size) or ``"sliding"`` (the strictest reading: fewer
            than N admitted in any trailing window; benchmarks use it to prove no overshoot).
        retry_after_header: add ``Retry-After`` to 429s. Off by default because no source
            confirms Qualtrics sends it (qualtrics-api.md §2.3).
        surveys, contacts: how many surveys and default-directory contacts to generate. The
            defaults are larger than one page, so every list endpoint paginates.
        oauth_scopes: the scopes the OAuth client was granted (OAuth Client Manager). A token
            request may ask for a subset (``scope``); without one it gets all of them (an
            UNCERTAIN choice). Calls outside a token's scopes answer 403 (§1.5).
        export_seconds: server time a response export takes, scaled by the survey's response
            count (``export_seconds * (1 + responses / 10_000)``); 0 completes at the first
            poll. See :meth:`set_export_duration`.
        file_ttl: seconds an export file id (and a progress id) stays valid; default one
            week (qualtrics-api.md §6.1).
        export_max_bytes: exports whose uncompressed data exceeds this fail (default 1.8 GB, §6.1).
        csv_bom: start CSV/TSV export files with a UTF-8 BOM, the older format (recorded 2017
            files have one); off by default because current recorded exports have none. Also
            an attribute (:attr:`csv_bom`), read when an export starts.
        proxied_host: when set (e.g. ``"az1.qualtrics.com"``), every ``/API/v3`` answer carries
            the recorded ``meta.notice`` "Request proxied. For faster response times, use this
            host instead: <host>", as when a call reaches another datacenter than the brand's.
            Also an attribute (:attr:`proxied_host`), settable at any time; ``None`` (default)
            sends no notice.
        proxy_next_pages: with :attr:`proxied_host` set, make every ``nextPage`` name that
            host, with the ``proxyDepth``/``proxyInfo`` parameters of the recorded proxied
            page (``https://az1.qualtrics.com/API/v3/...&proxyDepth=1&proxyInfo=...``): a
            client must then ask its own host for the path and query (off by default; an
            attribute too).

    Use as ``async with QualtricsEmulator() as emulator:``, or from synchronous code (or
    another event loop) with ``with QualtricsEmulator.in_thread() as emulator:``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        api_token: str = "emulator-token",  # noqa: S107 - a fake credential for a fake server
        client_id: str = "emulator-client",
        client_secret: str = "emulator-secret",  # noqa: S107 - a fake credential for a fake server
        token_ttl: float = 3600.0,
        rate_limits: RateLimits | None = DEFAULT_RATE_LIMITS,
        limit_mode: LimitMode = "leaky",
        retry_after_header: bool = False,
        surveys: int = 120,
        contacts: int = 250,
        oauth_scopes: Collection[str] = ("manage:all",),
        export_seconds: float = DEFAULT_EXPORT_SECONDS,
        file_ttl: float = FILE_TTL,
        export_max_bytes: int = MAX_FILE_BYTES,
        csv_bom: bool = False,
        proxied_host: str | None = None,
        proxy_next_pages: bool = False,
    ) -> None:
        if token_ttl <= 0:
            raise ValueError(f"token_ttl must be positive, got {token_ttl!r}")
        self.host = host
        self.port = port
        self.seed = seed
        self.api_token = api_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.rate_limits = rate_limits
        self.limit_mode: LimitMode = limit_mode
        self.retry_after_header = retry_after_header
        self.oauth_scopes = frozenset(oauth_scopes)
        self.proxied_host = proxied_host
        """Host named in the ``meta.notice`` every API answer carries (``None``: no notice)."""
        self.proxy_next_pages = proxy_next_pages
        """With :attr:`proxied_host`, ``nextPage`` names that host (as a recorded proxied page does)."""
        self.stats = EmulatorStats()
        """Request counters and log; see :class:`EmulatorStats`."""
        self.data: EmulatorData = build_data(seed, surveys=surveys, contacts=contacts)
        """The seeded data served by the API (compare fetched results against it)."""
        self._exports = ExportEngine(
            self.data,
            seed=seed,
            export_seconds=export_seconds,
            file_ttl=file_ttl,
            max_file_bytes=export_max_bytes,
            csv_bom=csv_bom,
        )
        self._limiter = None if rate_limits is None else ServerLimiter(rate_limits, limit_mode)
        self._faults = FaultTable()
        self._tokens = _TokenStore()
        self._skip_tokens = SkipTokens(seed)
        self._api_token_bytes = api_token.encode()
        self._runner: web.ServerRunner | None = None
        self._base_url: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._context = FamilyContext(seed=seed, data=self.data, skip_tokens=self._skip_tokens)
        self.families = family_providers(self._context)
        """The API families beyond the core (administration, surveys, XM Directory, ...), by name."""
        self._scopes = dict(_SCOPE_FAMILIES)
        self._routes = self._build_routes()

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening. :attr:`base_url` is valid afterwards."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        # handler_cancellation: a handler whose client disconnected (a hung request the
        # client gave up on, a drip nobody reads) is cancelled instead of lingering.
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        host = _LOOPBACK_FOR.get(self.host, self.host)  # a URL needs a concrete address
        self._base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop listening and end in-flight handlers (hung, delayed, dripping) promptly."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._exports.close()
        pending = list(self._in_flight)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, **options: Unpack[EmulatorOptions]) -> Iterator[Self]:
        """Run an emulator on its own event loop in a daemon thread.

        Works from synchronous code and from any async framework (the caller's loop is
        never touched). Faults, ``expire_tokens``, ``reset_stats`` and the export controls
        (``add_responses``, ``fail_exports``, ...) are safe to call from the caller's thread::

            with QualtricsEmulator.in_thread(seed=3) as emulator:
                request = urllib.request.Request(
                    emulator.api_url + "/whoami", headers={"X-API-TOKEN": emulator.api_token}
                )
                with urllib.request.urlopen(request) as response:
                    assert response.status == 200
        """
        emulator = cls(**options)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_run_loop, args=(loop,), name="qualtrics-emulator", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(emulator.start(), loop).result(timeout=30)
            try:
                yield emulator
            finally:
                asyncio.run_coroutine_threadsafe(emulator.close(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)

    @property
    def csv_bom(self) -> bool:
        """Whether CSV/TSV export files start with a UTF-8 BOM (the older format); read when an export starts."""
        return self._exports.csv_bom

    @csv_bom.setter
    def csv_bom(self, value: bool) -> None:
        self._exports.csv_bom = value

    @property
    def directory(self) -> DirectoryRoutes:
        """The XM Directory family: its test controls (contact imports: ``import_polls``,
        ``import_max_contacts``, ``fail_imports()``, ``import_jobs``, ...; contact exports)."""
        provider = self.families["directory"]
        assert isinstance(provider, DirectoryRoutes)
        return provider

    @property
    def base_url(self) -> str:
        """``http://host:port`` (the host root; the token endpoint is ``/oauth2/token``)."""
        if self._base_url is None:
            raise RuntimeError("the emulator has not been started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """``base_url + "/API/v3"``, the base URL a client should be given."""
        return self.base_url + API_PREFIX

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint, ``base_url + "/oauth2/token"``."""
        return self.base_url + OAUTH_PATH

    # --- test controls -----------------------------------------------------------------------

    def inject(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        times: int = 1,
        status: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        retry_after: str | None = None,
        html: bool = False,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        truncate: bool = False,
        drop_after: int | None = None,
        drip: float | None = None,
        hang: bool = False,
        redirect_to: str | None = None,
        notice: str | None = None,
        next_page: str | None = None,
        processed: bool = False,
    ) -> Fault:
        """Queue a fault for matching requests; see :class:`Fault` for every option.

        ``path`` is an fnmatch pattern on the path without ``/API/v3``, e.g.
        ``emulator.inject("GET", "/surveys*", status=503, times=2)``. Returns the
        :class:`Fault`, whose ``fired``/``remaining`` tell what happened. With
        ``processed=True`` the request takes effect first and only its answer is broken:
        ``emulator.inject("POST", "/directories/*/mailinglists", processed=True, status=500)``
        creates the list and answers 500.
        """
        fault = Fault(
            method=method,
            path=path,
            times=times,
            status=status,
            error_code=error_code,
            error_message=error_message,
            retry_after=retry_after,
            html=html,
            body=body,
            content_type=content_type,
            headers=headers,
            delay=delay,
            drop=drop,
            truncate=truncate,
            drop_after=drop_after,
            drip=drip,
            hang=hang,
            redirect_to=redirect_to,
            notice=notice,
            next_page=next_page,
            processed=processed,
        )
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        """Forget every fault that has not fired its ``times`` yet."""
        self._faults.clear()

    def expire_tokens(self) -> None:
        """Invalidate every OAuth access token issued so far (they now answer 401)."""
        self._tokens.expire_all()

    def reset_stats(self) -> None:
        """Zero :attr:`stats` and :attr:`export_stats` in place (references to them stay valid)."""
        self.stats.reset()
        self._exports.stats.reset()

    # --- response exports (qualtrics-api.md §6; behaviour documented in ``_exports``) ---------

    @property
    def export_stats(self) -> ExportStats:
        """Export counters: jobs started/completed/failed, files built, downloads; see :class:`ExportStats`."""
        return self._exports.stats

    @property
    def export_jobs(self) -> list[ExportJobInfo]:
        """A snapshot of every export job started so far, oldest first (see :class:`ExportJobInfo`)."""
        return self._exports.jobs()

    def response_count(self, survey_id: str) -> int:
        """How many responses ``survey_id`` has now (seeded plus added). Raises ``ValueError`` if unknown."""
        return self._exports.response_count(survey_id)

    def add_responses(self, survey_id: str, n: int, *, recorded_at: datetime | None = None) -> list[str]:
        """Record ``n`` new responses on ``survey_id`` and return their response ids.

        Their ``recordedDate`` is ``recorded_at`` (timezone-aware) or now; their
        ``lastModifiedDate`` is now (or ``recorded_at`` if later). Exports started from now
        on include them, and so does a continuation export with a token issued before this
        call (for incremental-sync tests). Safe to call from another thread.
        """
        return self._exports.add_responses(survey_id, n, recorded_at)

    def modify_responses(self, survey_id: str, response_ids: Sequence[str]) -> None:
        """Bump ``lastModifiedDate`` of existing responses to now (``ValueError`` for unknown ids).

        They then appear in continuation exports (and move in ``sortByLastModifiedDate`` order).
        """
        self._exports.modify_responses(survey_id, response_ids)

    def add_survey(self, name: str, *, responses: int = 0, answer_size: int = 0) -> str:
        """Create a survey called ``name`` (verbatim) with ``responses`` responses; return its id.

        It is listed by ``GET /surveys`` and served by ``GET /surveys/{surveyId}``. With
        ``answer_size > 0`` it gets a free-text question whose every answer is that many
        characters, so big exports are quick to set up: ``add_survey("Big", responses=20_000,
        answer_size=10_000)`` exports about 200 MB of CSV. Responses are generated on the fly,
        never stored; a built export file is cached per ``fileId``.
        """
        return self._exports.add_survey(name, responses, answer_size)

    def fail_exports(self, survey_id: str | None = None, *, times: int = 1) -> None:
        """Make the next ``times`` export jobs (of ``survey_id``, or of any survey) end ``failed``.

        The job progresses normally until its duration is up, then reports
        ``status: "failed"`` with an ``error`` object and no ``fileId``.
        """
        self._exports.queue_outcome("fail", survey_id, times)

    def stall_exports(self, survey_id: str | None = None, *, times: int = 1) -> None:
        """Make the next ``times`` export jobs never complete: ``inProgress`` forever, percent stuck."""
        self._exports.queue_outcome("stall", survey_id, times)

    def set_export_duration(self, seconds: float, survey_id: str | None = None) -> None:
        """Set how long export jobs started from now on take, in server seconds.

        With ``survey_id``, exports of that survey take exactly ``seconds``; without, this
        replaces the ``export_seconds`` option (still scaled by response count) and clears
        per-survey settings. 0 completes at the first poll.
        """
        self._exports.set_duration(seconds, survey_id)

    def expire_export_files(self) -> None:
        """Expire every export file built so far: their ``fileId`` downloads now answer 404."""
        self._exports.expire_files()

    def expire_export_jobs(self) -> None:
        """Expire every export job started so far: polling their ``progressId`` now answers 404."""
        self._exports.expire_jobs()

    def expire_continuation_tokens(self) -> None:
        """Expire every continuation token issued so far: exports sending one answer 400."""
        self._exports.expire_tokens()

    def drop_download(self, after_bytes: int, *, times: int = 1) -> Fault:
        """The next ``times`` export file downloads send the headers (full ``Content-Length``),
        ``after_bytes`` body bytes, then close the connection.

        Same as ``inject("GET", EXPORT_FILES, drop_after=after_bytes, times=times)``; the
        returned :class:`Fault` counts what fired. It also applies to ``Range`` requests (the
        count is then from the start of the range).
        """
        return self.inject("GET", EXPORT_FILES, drop_after=after_bytes, times=times)

    def corrupt_download(self, *, times: int = 1) -> None:
        """The next ``times`` export file downloads serve the file with one byte flipped.

        Same length, same headers. For a ZIP the flipped byte is in the member's data, which
        still inflates, so only the CRC-32 check fails (``ZipFile.testzip()`` names the member).
        """
        self._exports.corrupt_next(times)

    def ignore_range(self, *, times: int = 1) -> None:
        """The next ``times`` export file downloads that send ``Range`` get the whole file (200)."""
        self._exports.ignore_next_range(times)

    # --- request pipeline --------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        arrived = time.monotonic()
        method = request.method
        raw_path = request.path
        is_api = raw_path == API_PREFIX or raw_path.startswith(API_PREFIX + "/")
        path = _normalize(raw_path[len(API_PREFIX) :] if is_api else raw_path)
        match = self._match(method, path) if is_api else None
        stats = self.stats
        stats.requests += 1
        stats.by_route[self._route_key(method, path, is_api, match)] += 1
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        status = 0
        try:
            response, status = await self._respond(request, method, path, is_api, match, arrived)
            return response
        finally:
            if task is not None:
                self._in_flight.discard(task)
            stats.statuses[status] += 1
            stats.log.append((arrived, method, raw_path, status))

    async def _respond(
        self,
        request: web.BaseRequest,
        method: str,
        path: str,
        is_api: bool,
        match: _Match | None,
        arrived: float,
    ) -> tuple[web.StreamResponse, int]:
        if is_api:
            denied = self._authenticate(request)
            if denied is not None:
                return _faults.respond(self._proxied(denied, is_api)), denied.status
        if is_api and self._limiter is not None:
            wait = self._limiter.try_admit(method, path, arrived)
            if wait is not None:
                self.stats.throttled += 1
                reply = self._proxied(_error_reply(429), is_api)
                if self.retry_after_header:
                    reply.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return _faults.respond(reply), 429
        fault = self._faults.take(method, path)
        if fault is None:
            reply = self._proxied(await self._answer(request, path, is_api, match), is_api)
            return await _faults.send(request, reply), reply.status
        self.stats.faults_fired += 1
        return await self._apply_fault(fault, request, path, is_api, match)

    async def _apply_fault(
        self, fault: Fault, request: web.BaseRequest, path: str, is_api: bool, match: _Match | None
    ) -> tuple[web.StreamResponse, int]:
        # processed: the request takes effect first; the fault then only breaks its answer.
        answered = await self._answer(request, path, is_api, match) if fault.processed else None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.hang:
            await _faults.hang()
        if fault.drop:
            return _faults.drop(request), 0
        reply = _replacement_reply(fault)
        if reply is None:
            reply = answered if answered is not None else await self._answer(request, path, is_api, match)
        reply = self._proxied(reply, is_api)
        if reply.payload is not None:
            meta = reply.payload.get("meta")
            if fault.notice is not None and isinstance(meta, dict):
                meta["notice"] = fault.notice
            result = reply.payload.get("result")
            if fault.next_page is not None and isinstance(result, dict):
                result["nextPage"] = fault.next_page.replace("{self}", str(request.url))
        if fault.content_type is not None:
            reply.content_type = fault.content_type
        reply.headers.update(fault.headers or {})
        if fault.retry_after is not None:
            reply.headers["Retry-After"] = fault.retry_after
        if fault.truncate or fault.drop_after is not None:
            return await _faults.truncate(request, reply, fault.drop_after), reply.status
        if fault.drip is not None:
            return await _faults.drip(request, reply, fault.drip), reply.status
        return await _faults.send(request, reply), reply.status

    def _proxied(self, reply: Reply, is_api: bool) -> Reply:
        """``reply`` with the proxy ``meta.notice`` when :attr:`proxied_host` is set (API answers only)."""
        host = self.proxied_host
        if host is not None and is_api and reply.payload is not None:
            meta = reply.payload.get("meta")
            if isinstance(meta, dict) and "notice" not in meta:
                meta["notice"] = PROXY_NOTICE.format(host=host)
            result = reply.payload.get("result")
            if self.proxy_next_pages and isinstance(result, dict) and isinstance(result.get("nextPage"), str):
                page = URL(result["nextPage"], encoded=True)
                proxied = URL.build(scheme="https", host=host, path=page.path, query=page.query)
                result["nextPage"] = str(proxied.update_query(proxyDepth="1", proxyInfo='{"proxyDepth":1}'))
        return reply

    async def _answer(self, request: web.BaseRequest, path: str, is_api: bool, match: _Match | None) -> Reply:
        if not is_api and path == OAUTH_PATH:
            return await self._token_endpoint(request)
        if match is None:
            return _gateway_not_found()
        missing = self._missing_scope(request, match)
        if missing is not None:
            return _error_reply(403, f"The access token lacks the scope this call needs: {missing}.", "AuthZ_1.1")
        try:
            outcome = match.handler(request, match.params)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        except ApiError as exc:
            reply = _error_reply(exc.status, exc.message, exc.code)
            reply.headers.update(exc.headers)
            return reply
        if isinstance(outcome, Reply):
            return outcome
        if outcome is None:  # a write answered with meta only
            return Reply(200, payload={"meta": _meta(200)})
        return Reply(200, payload={"result": outcome, "meta": _meta(200)})

    # --- authentication ----------------------------------------------------------------------

    def _authenticate(self, request: web.BaseRequest) -> Reply | None:
        """``None`` when the credentials are good; else the recorded answer (400 ``ATP_2`` or 401)."""
        api_token = request.headers.get("X-API-TOKEN")  # CIMultiDict: any header-name case
        if api_token is not None:
            if hmac.compare_digest(api_token.encode("utf-8", "surrogateescape"), self._api_token_bytes):
                return None
            return _error_reply(401, "Invalid API token.", "AUTH_1.2")
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            state = self._tokens.check(credential)
            if state == "valid":
                return None
            if state == "expired":
                return _error_reply(401, "The access token has expired.", "AUTH_1.3")
            return _error_reply(401, "Invalid access token.", "AUTH_1.2")
        return _error_reply(400, MISSING_CREDENTIALS, "ATP_2")

    def _missing_scope(self, request: web.BaseRequest, match: _Match) -> str | None:
        """For a Bearer token, the scope a route needs that the token lacks (None: allowed)."""
        family = self._scopes.get(match.template)
        if family is None or "X-API-TOKEN" in request.headers:
            return None
        granted = self._tokens.scopes(request.headers.get("Authorization", "").partition(" ")[2].strip())
        verb = "read" if request.method == "GET" or match.template in _READING_POSTS else "manage"
        accepted = {"manage:all", f"manage:{family}"} | ({f"read:{family}"} if verb == "read" else set())
        return None if granted & accepted else f"{verb}:{family}"

    def _grantable(self, requested: set[str]) -> bool:
        allowed = self.oauth_scopes
        if "manage:all" in allowed:
            return True
        return all(
            scope in allowed or (scope.startswith("read:") and f"manage:{scope[5:]}" in allowed) for scope in requested
        )

    async def _token_endpoint(self, request: web.BaseRequest) -> Reply:
        """``POST /oauth2/token``: client-credentials grant, client authenticated by HTTP Basic.

        Documented choices where qualtrics-api.md §1.5 is UNCERTAIN: only HTTP Basic client
        authentication is accepted (not ``client_id``/``client_secret`` in the form body);
        ``expires_in`` is a number; errors use the RFC 6749 ``error``/``error_description`` body.
        """
        if request.method != "POST":
            return _oauth_error(405, "invalid_request", "Use POST.", {"Allow": "POST"})
        if not self._client_authenticated(request.headers.get("Authorization")):
            return _oauth_error(
                401, "invalid_client", "Client authentication failed.", {"WWW-Authenticate": 'Basic realm="qualtrics"'}
            )
        try:
            form = await request.post()
        except ValueError:
            return _oauth_error(400, "invalid_request", "Malformed form body.")
        grant_type = form.get("grant_type")
        if not isinstance(grant_type, str) or not grant_type:
            return _oauth_error(400, "invalid_request", "grant_type is required.")
        if grant_type != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")
        scope = form.get("scope")
        requested = set(scope.split()) if isinstance(scope, str) else set()
        if requested and not self._grantable(requested):
            return _oauth_error(400, "invalid_scope", f"Scopes not granted to this client: {sorted(requested)}.")
        granted = frozenset(requested) if requested else self.oauth_scopes
        token = self._tokens.issue(self.token_ttl, granted)
        self.stats.tokens_issued += 1
        ttl = self.token_ttl
        payload: Json = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
            "scope": " ".join(sorted(granted)),
        }
        return Reply(200, payload=payload, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _client_authenticated(self, authorization: str | None) -> bool:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        client_id, sep, client_secret = decoded.partition(b":")
        id_ok = hmac.compare_digest(client_id, self.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret, self.client_secret.encode())
        return bool(sep) and id_ok and secret_ok

    # --- routing -----------------------------------------------------------------------------

    def _build_routes(self) -> tuple[_Route, ...]:
        core: tuple[tuple[str, str, _Handler], ...] = (
            ("GET", "/whoami", self._whoami),
            ("GET", "/surveys", self._list_surveys),
            ("GET", "/surveys/{surveyId}", self._get_survey),
            ("POST", "/surveys/{surveyId}/export-responses", self._start_export),
            ("GET", "/surveys/{surveyId}/export-responses/{exportProgressId}", self._export_progress),
            ("GET", "/surveys/{surveyId}/export-responses/{fileId}/file", self._export_file),
            ("GET", "/directories", self._list_directories),
            ("GET", "/directories/{directoryId}/contacts", self._list_contacts),
            ("GET", "/directories/{directoryId}/contacts/{contactId}", self._get_contact),
        )
        specs = [RouteSpec(method, template, handler) for method, template, handler in core]
        for provider in self.families.values():
            specs.extend(provider.routes())
        seen: set[tuple[str, str]] = set()
        routes = []
        for spec in specs:
            key = (spec.method, spec.template)
            if key in seen:
                raise RuntimeError(f"two emulator routes for {spec.method} {spec.template}")
            seen.add(key)
            if spec.scope is not None:
                self._scopes.setdefault(spec.template, spec.scope)
            pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", spec.template) + "$")
            routes.append(_Route(spec.method, pattern, spec.template, spec.handler))
        # Literal segments win over placeholders (".../contacts/search" before ".../contacts/{contactId}").
        routes.sort(key=lambda route: route.template.count("{"))
        return tuple(routes)

    def _match(self, method: str, path: str) -> _Match | None:
        for route in self._routes:
            if route.method == method and (found := route.pattern.match(path)):
                return _Match(route.template, route.handler, found.groupdict())
        return None

    def _route_key(self, method: str, path: str, is_api: bool, match: _Match | None) -> str:
        if is_api and self.rate_limits is not None:
            key = self.rate_limits.route(method, path).key
            if key is not None:
                return key
        if match is not None:
            return f"{method} {match.template}"
        return f"{method} {_templatize(path)}"

    # --- API routes (result objects; raise _ApiError for 4xx) --------------------------------

    def _whoami(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self.data.whoami)

    def _list_surveys(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return offset_page(request, self.data.surveys, SURVEYS_PAGE_SIZE)

    def _get_survey(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey = self.data.survey_details.get(params["surveyId"])
        if survey is None:
            raise survey_not_found()
        return dict(survey)

    async def _start_export(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _ApiError(413, "The request body is too large.", "BRE_0.4") from None
        return self._exports.start(params["surveyId"], body)

    def _export_progress(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return self._exports.progress(params["surveyId"], params["exportProgressId"])

    def _export_file(self, request: web.BaseRequest, params: dict[str, str]) -> Reply:
        return self._exports.download(params["surveyId"], params["fileId"], request.headers)

    def _list_directories(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        directories = self.data.directories
        return skip_page(request, self._skip_tokens, "directories", directories, DIRECTORIES_PAGE_SIZE)

    def _list_contacts(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        directory_id = params["directoryId"]
        contacts = self.data.contacts.get(directory_id)
        if contacts is None:
            raise _ApiError(404, f"Directory {directory_id} was not found.", "RNF_0.1")
        embedded = _bool_query(request.query, "includeEmbedded", default=False)
        new_scheme = _bool_query(request.query, "useNewPaginationScheme", default=False)
        cap = CONTACTS_PAGE_SIZE_NEW_SCHEME if new_scheme else CONTACTS_PAGE_SIZE
        result = skip_page(
            request,
            self._skip_tokens,
            f"contacts:{directory_id}",
            contacts,
            cap,
            reject_larger=True,
            default_size=CONTACTS_PAGE_SIZE,
        )
        result["elements"] = [contact_element(c, include_embedded=embedded) for c in result["elements"]]
        return result

    def _get_contact(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        directory_id, contact_id = params["directoryId"], params["contactId"]
        if directory_id not in self.data.contacts:
            raise _ApiError(404, f"Directory {directory_id} was not found.", "RNF_0.1")
        contact = self.data.find_contact(directory_id, contact_id)
        if contact is None:
            raise _ApiError(404, f"Contact {contact_id} was not found.", "RNF_0.1")
        return dict(contact)


# --- helpers -----------------------------------------------------------------------------------


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Thread body for ``in_thread``: run ``loop`` until stopped, then tidy up like asyncio.run."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def serve(
    *, on_ready: Callable[[QualtricsEmulator], object] | None = None, **options: Unpack[EmulatorOptions]
) -> None:
    """Run an emulator until cancelled (the CLI, ``python -m qualtrics_async.testing``).

    ``on_ready`` is called with the started emulator, e.g. to print its URL.
    """
    async with QualtricsEmulator(**options) as emulator:
        if on_ready is not None:
            on_ready(emulator)
        await asyncio.Event().wait()


def _normalize(path: str) -> str:
    """Drop one trailing slash; an empty segment inside the path (``//``) matches no route."""
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path or "/"


def _templatize(path: str) -> str:
    return "/".join("{id}" if _ID_SEGMENT.fullmatch(seg) else seg for seg in path.split("/"))


def _http_status(status: int) -> str:
    phrase = _PHRASES.get(status)
    if phrase is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
    return f"{status} - {phrase}"


def _meta(status: int) -> Json:
    return {"httpStatus": _http_status(status), "requestId": str(uuid.uuid4())}


def _error_reply(status: int, message: str | None = None, code: str | None = None) -> Reply:
    """The Qualtrics error envelope (a bare ``meta`` below 400, e.g. for a faked 202)."""
    meta = _meta(status)
    if status >= 400:
        default_code, default_message = _DEFAULT_ERRORS.get(
            status, (f"HTTP_{status}", _http_status(status).split(" - ", 1)[1])
        )
        meta["error"] = {"errorMessage": message or default_message, "errorCode": code or default_code}
    return Reply(status, payload={"meta": meta})


def _gateway_not_found() -> Reply:
    """The gateway's recorded 404 for a path no endpoint serves: no ``errorCode``, no ``requestId``."""
    meta: Json = {"httpStatus": _http_status(404), "error": {"errorMessage": NOT_FOUND_MESSAGE}}
    return Reply(404, payload={"meta": meta})


def _replacement_reply(fault: Fault) -> Reply | None:
    """The answer a fault substitutes for the real one, or ``None`` to answer normally."""
    if fault.redirect_to is not None:
        return Reply(fault.status or 302, body=b"", content_type="text/plain", headers={"Location": fault.redirect_to})
    if fault.html:
        status = fault.status or 502
        phrase = _http_status(status).split(" - ", 1)[1]
        page = _faults.PROXY_ERROR_PAGE.format(status=status, phrase=phrase)
        return Reply(status, body=page.encode(), content_type="text/html; charset=utf-8")
    if fault.body is not None:
        return Reply(fault.status or 200, body=fault.body, content_type=fault.content_type or "application/json")
    if fault.status is not None:
        return _error_reply(fault.status, fault.error_message, fault.error_code)
    return None


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Reply:
    """RFC 6749 §5.2 error body (the token endpoint does not use the API envelope)."""
    return Reply(status, payload={"error": error, "error_description": description}, headers=headers or {})


def _bool_query(query: MultiMapping[str], name: str, *, default: bool) -> bool:
    raw = query.get(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered not in ("true", "false", "1", "0"):
        raise _ApiError(400, f"Invalid value for {name!r}: {raw!r} (expected true or false).")
    return lowered in ("true", "1")
