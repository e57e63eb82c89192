"""`QualtricsClient`: configuration, lifecycle and the public request verbs."""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import aiohttp

from qualtrics_async._auth import Auth, OAuthClientCredentials, TokenAuth
from qualtrics_async._config import (
    Credentials,
    Endpoint,
    RetryPolicy,
    SizeLimits,
    Timeouts,
    resolve_credentials,
    resolve_endpoint,
)
from qualtrics_async._decoding import envelope_decoder
from qualtrics_async._ratelimit import DEFAULT_UTILIZATION, LocalRateLimiter, RateLimiter, RateLimits
from qualtrics_async._session import QueryParams, Session
from qualtrics_async._transport import attempt_client_timeout, create_http_session
from qualtrics_async.errors import ClientClosedError, ConfigurationError
from qualtrics_async.models.common import WhoAmI
from qualtrics_async.pagination import Page, iter_items, iter_pages
from qualtrics_async.resources.admin import (
    Divisions,
    EventSubscriptions,
    Groups,
    LegacyMailingLists,
    Libraries,
    Organizations,
    Users,
)
from qualtrics_async.resources.directory import Contacts, Directories, MailingLists, Samples, Segments, Transactions
from qualtrics_async.resources.distributions import Distributions
from qualtrics_async.resources.responses import Responses
from qualtrics_async.resources.survey_definitions import SurveyDefinitions
from qualtrics_async.resources.surveys import Surveys


class QualtricsClient:
    """Async client for the Qualtrics REST API v3. Use it as an async context manager::

        async with QualtricsClient(api_token="...", datacenter="iad1") as client:
            async for survey in client.surveys.list():
                print(survey.name)

    Args:
        api_token: an API token (Account Settings > Qualtrics IDs). Default: ``QUALTRICS_API_TOKEN``.
        datacenter: the datacenter id, e.g. ``"iad1"``. Default: ``QUALTRICS_DATACENTER``.
        base_url: the host root instead of a datacenter, e.g. ``"https://brand.iad1.qualtrics.com"``
            or the emulator's ``"http://127.0.0.1:8765"`` (a trailing ``/API/v3`` is accepted;
            plain http only to loopback). Default: ``QUALTRICS_BASE_URL``.
        client_id, client_secret: OAuth 2.0 client credentials instead of a token. Default:
            ``QUALTRICS_CLIENT_ID`` / ``QUALTRICS_CLIENT_SECRET``.
        scopes: OAuth scopes to request (a space-separated string or a sequence).
        rate_limits: the limits to pace requests by (default: the published table, 3000/min
            brand-wide plus per-endpoint rows). ``RateLimits.unlimited()`` turns pacing off.
        limiter: a limiter to use instead of the in-process one, e.g. a
            :class:`~qualtrics_async.RedisRateLimiter` shared by many workers. It carries its
            own limits, so ``rate_limits`` and ``utilization`` are then refused.
        utilization: the fraction of each limit the in-process limiter uses (default 0.95).
        retry: when and how to retry (:class:`RetryPolicy`).
        timeouts: connect, read, per-attempt and per-call limits (:class:`Timeouts`).
        size_limits: how much is read of what a server sends: a JSON answer, an error body,
            one streamed record, an export file (:class:`SizeLimits`; docs/errors.md).
        pool_size: the most connections open at once.
        ssl_context: a custom TLS context (e.g. with a corporate CA). Verification stays on.
        http_session: an aiohttp session to use; it is not closed by the client. Its settings
            are yours: the client's TLS policy and timeouts do not apply to it, and aiohttp
            itself resends a dropped idempotent request once (on top of ``retry``) unless
            you turn that off.
        env: where the ``QUALTRICS_*`` defaults above are read from (default ``os.environ``);
            pass ``{}`` to read none, or a mapping of your own, e.g. in tests.

    Raises:
        ConfigurationError: missing credentials, an unknown datacenter, plain http to a
            non-loopback host, ... — before any request is sent.
    """

    def __init__(
        self,
        api_token: str | None = None,
        *,
        datacenter: str | None = None,
        base_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: str | Sequence[str] | None = None,
        rate_limits: RateLimits | None = None,
        limiter: RateLimiter | None = None,
        utilization: float = DEFAULT_UTILIZATION,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        size_limits: SizeLimits | None = None,
        pool_size: int = 100,
        ssl_context: ssl.SSLContext | None = None,
        http_session: aiohttp.ClientSession | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if base_url is not None and datacenter is not None:
            raise ConfigurationError("pass either datacenter or base_url, not both")
        scope_list = list(scopes) if isinstance(scopes, Sequence) and not isinstance(scopes, str) else scopes
        problems: list[str] = []  # report every missing setting at once, not one per attempt
        try:
            self._endpoint: Endpoint = resolve_endpoint(base_url, datacenter, env)
        except ConfigurationError as exc:
            problems.append(exc.message)
        try:
            self._credentials: Credentials = resolve_credentials(api_token, client_id, client_secret, scope_list, env)
        except ConfigurationError as exc:
            problems.append(exc.message)
        if problems:
            raise ConfigurationError("; and ".join(problems))
        if not 0 < utilization <= 1:
            raise ConfigurationError(f"utilization must be in (0, 1], got {utilization!r}")
        if pool_size < 1:
            raise ConfigurationError(f"pool_size must be at least 1, got {pool_size!r}")
        if limiter is not None and (rate_limits is not None or utilization != DEFAULT_UTILIZATION):
            raise ConfigurationError(
                "pass rate_limits= and utilization= to the limiter (e.g. RedisRateLimiter(url, limits=...)): "
                "the client's own settings only shape its in-process limiter, which limiter= replaces"
            )
        limiter_limits = getattr(limiter, "limits", None)
        if isinstance(limiter_limits, RateLimits):
            rate_limits = limiter_limits
        self._rate_limits = rate_limits if rate_limits is not None else RateLimits()
        self._limiter = limiter
        self._utilization = utilization
        self._retry = retry or RetryPolicy()
        self._timeouts = timeouts or Timeouts()
        self._size_limits = size_limits or SizeLimits()
        self._pool_size = pool_size
        self._ssl_context = ssl_context
        self._external_http = http_session
        self._session: Session | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open the connection pool and limiter (``async with`` does this for you)."""
        if self._session is not None:
            return
        http = self._external_http or create_http_session(
            self._timeouts, pool_size=self._pool_size, ssl_context=self._ssl_context
        )
        auth: Auth
        if self._credentials.is_oauth:
            auth = OAuthClientCredentials(
                self._endpoint,
                self._credentials,
                timeout=attempt_client_timeout(self._timeouts, self._timeouts.attempt),
            )
        else:
            assert self._credentials.api_token is not None
            auth = TokenAuth(self._credentials.api_token)
        if self._limiter is None and not self._rate_limits.is_unlimited:
            # Built once and kept across close/open, so a Retry-After pause or a slowed pace survives.
            self._limiter = LocalRateLimiter(self._rate_limits, utilization=self._utilization)
        limiter = self._limiter
        self._session = Session(
            pool_size=self._pool_size,
            http=http,
            endpoint=self._endpoint,
            auth=auth,
            limiter=limiter,
            retry=self._retry,
            timeouts=self._timeouts,
            limits=self._size_limits,
        )

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in). Safe to call twice."""
        session = self._session
        if session is None:
            return
        self._session = None  # the client can be opened again
        await session.aclose()
        if self._external_http is None:
            await session.http.close()

    @property
    def _open_session(self) -> Session:
        session = self._session
        if session is None:
            raise ClientClosedError(
                "the client is not open: use 'async with QualtricsClient(...) as client:' "
                "(or await client.open() and client.aclose())"
            )
        return session

    # -- configuration views -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The host root requests go to, e.g. ``https://iad1.qualtrics.com``."""
        return str(self._endpoint.origin)

    @property
    def rate_limits(self) -> RateLimits:
        """The limits this client paces by (its limiter's, when one was passed)."""
        return self._rate_limits

    @property
    def limiter(self) -> RateLimiter | None:
        """The limiter in use (``None`` before the client is first opened, unless one was passed)."""
        return self._limiter

    @property
    def auth_kind(self) -> str:
        """``"oauth"`` or ``"api_token"``."""
        return "oauth" if self._credentials.is_oauth else "api_token"

    def __repr__(self) -> str:
        state = "open" if self._session else "closed"
        return f"QualtricsClient(base_url={self.base_url!r}, auth={self.auth_kind!r}, {state})"

    # -- verbs --------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json: Any = None,
        result_type: Any = Any,
        timeout: float | None = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        content_type: str = "application/json",
        on_send: Callable[[], None] | None = None,
    ) -> Any:
        """Send one API call and return the decoded ``result`` of its envelope.

        Args:
            method: ``"GET"``, ``"POST"``, ``"PUT"`` or ``"DELETE"``.
            path: the API path (``"/surveys/SV_123"``; build it with
                :func:`qualtrics_async.build_path` when it holds ids) or a same-origin URL.
            params: query parameters.
            json: a JSON-serialisable body (dicts, lists, msgspec Structs).
            result_type: the type to decode ``result`` into (default: plain JSON values).
            timeout: a deadline for the whole call, retries included (default ``Timeouts.call``).
            idempotent: override whether the call is safe to repeat after an ambiguous
                failure (default: GET/PUT/DELETE yes, POST no).
            headers: extra request headers (``Idempotency-Key``, ``X-COPY-SOURCE``, ...).
            content, content_type: a raw body instead of ``json`` (a CSV file, a multipart form).
            on_send: called just before each attempt goes out (after the rate limiter let it
                through): a journal can record "may have been sent" at the last moment.

        Returns ``None`` for a write (POST/PUT/DELETE) answered with ``meta`` only; a GET
        answered without a ``result`` raises :class:`~qualtrics_async.errors.ResponseDecodeError`.
        """
        answer = await self._open_session.call(
            method,
            path,
            params=params,
            json=json,
            decoder=envelope_decoder(result_type),
            expect_result=method.upper() == "GET",
            idempotent=idempotent,
            timeout=timeout,
            content=content,
            content_type=content_type,
            headers=headers,
            on_send=on_send,
        )
        return answer.result

    async def paginate(
        self, path: str, params: QueryParams | None = None, *, item_type: Any = Any
    ) -> AsyncGenerator[Any, None]:
        """Yield every element of a paginated collection, following ``nextPage`` to the end.

        ``path`` may also be a ``nextPage`` URL saved from :meth:`pages` to resume a walk.
        """
        async for item in iter_items(self._open_session, path, params, item_type=item_type):
            yield item

    async def pages(
        self, path: str, params: QueryParams | None = None, *, item_type: Any = Any
    ) -> AsyncGenerator[Page[Any], None]:
        """Yield the pages of a collection (elements, ``next_page`` URL to resume from, requestId)."""
        async for page in iter_pages(self._open_session, path, params, item_type=item_type):
            yield page

    async def whoami(self) -> WhoAmI:
        """The user, brand and datacenter behind the credentials (``GET /whoami``)."""
        result: WhoAmI = await self.request("GET", "/whoami", result_type=WhoAmI)
        return result

    # -- resources ----------------------------------------------------------------------------

    @functools.cached_property
    def surveys(self) -> Surveys:
        """Surveys: ``list()`` and ``get(survey_id)``."""
        return Surveys(self)

    @functools.cached_property
    def responses(self) -> Responses:
        """Responses: ``export``, ``stream``, ``export_many``, ``export_incremental``, jobs."""
        return Responses(self)

    @functools.cached_property
    def organizations(self) -> Organizations:
        """Organizations: ``get``."""
        return Organizations(self)

    @functools.cached_property
    def divisions(self) -> Divisions:
        """Divisions: ``create``, ``get``, ``update``."""
        return Divisions(self)

    @functools.cached_property
    def groups(self) -> Groups:
        """Groups: list, create, get, update, delete, members."""
        return Groups(self)

    @functools.cached_property
    def users(self) -> Users:
        """Users: list, create, get, update, delete, API tokens."""
        return Users(self)

    @functools.cached_property
    def survey_definitions(self) -> SurveyDefinitions:
        """Survey definitions: questions, blocks, flow, options, versions, quotas."""
        return SurveyDefinitions(self)

    @functools.cached_property
    def libraries(self) -> Libraries:
        """Libraries: messages and graphics."""
        return Libraries(self)

    @functools.cached_property
    def distributions(self) -> Distributions:
        """Distributions: email, links, history, reminders, thank-yous, SMS."""
        return Distributions(self)

    @functools.cached_property
    def legacy_mailing_lists(self) -> LegacyMailingLists:
        """Research Core mailing lists (retired by Qualtrics in 2026; use XM Directory)."""
        return LegacyMailingLists(self)

    @functools.cached_property
    def event_subscriptions(self) -> EventSubscriptions:
        """Event subscriptions (webhooks): list, create, get, delete."""
        return EventSubscriptions(self)

    @functools.cached_property
    def directories(self) -> Directories:
        """XM Directory: the directories (pools) of the brand."""
        return Directories(self)

    @functools.cached_property
    def contacts(self) -> Contacts:
        """XM Directory contacts: list, search, create, get, update, delete, export."""
        return Contacts(self)

    @functools.cached_property
    def mailing_lists(self) -> MailingLists:
        """XM Directory mailing lists and their members."""
        return MailingLists(self)

    @functools.cached_property
    def transactions(self) -> Transactions:
        """XM Directory transactions and transaction batches."""
        return Transactions(self)

    @functools.cached_property
    def segments(self) -> Segments:
        """XM Directory segments."""
        return Segments(self)

    @functools.cached_property
    def samples(self) -> Samples:
        """XM Directory samples."""
        return Samples(self)
