"""Authentication: an API token header, or OAuth 2.0 client credentials with a cached token."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import msgspec

from qualtrics_async._config import Credentials, Endpoint
from qualtrics_async._decoding import decode
from qualtrics_async._logging import logger
from qualtrics_async._sansio import parse_retry_after, snippet
from qualtrics_async._secret import Secret, redact
from qualtrics_async._transport import read_capped
from qualtrics_async.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    PermissionDeniedError,
    QualtricsError,
    RateLimitError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
)

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a URL path, not a password
_MAX_REFRESH_MARGIN = 300.0
_TOKEN_BODY_BYTES = 1 << 20  # a token answer is well under 4 KiB
_ERROR_SNIPPET_BYTES = 64 * 1024
_BACKGROUND_RETRY = 5.0  # seconds before a failed background refresh is tried again


class Auth(Protocol):
    """Supplies the credential header of each attempt."""

    can_refresh: bool

    def cached_header(self) -> tuple[str, str] | None:
        """The header if it is at hand without I/O (the fast path), else ``None``."""

    async def header(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        """The ``(name, value)`` header that authenticates one attempt, fetching a token if needed.

        Raises:
            TokenUnavailable: the token endpoint failed in a way worth retrying.
            AuthenticationError, BadRequestError, PermissionDeniedError: it refused the credentials.
        """

    def invalidate(self, value: str) -> None:
        """Drop the credential ``value`` after a 401 so the next attempt gets a fresh one."""

    def close(self) -> None:
        """Stop any token request in flight (the client is closing)."""


class TokenUnavailable(Exception):
    """The OAuth token endpoint failed transiently; the API request itself was never sent.

    One token request serves many callers, so each caller gets its own copy of the error
    (``error`` builds a new one on each access): callers annotate theirs with attempt counts.
    """

    def __init__(self, make_error: Callable[[], QualtricsError]) -> None:
        self._make_error = make_error
        super().__init__(str(make_error()))

    @property
    def error(self) -> QualtricsError:
        return self._make_error()


class _MintFailed(Exception):
    """How the shared token request failed; turned into one fresh error per waiting caller."""

    def __init__(self, make_error: Callable[[], QualtricsError], *, retryable: bool = True) -> None:
        super().__init__()
        self.make_error = make_error
        self.retryable = retryable


class TokenAuth:
    """``X-API-TOKEN: <token>`` on every request. A 401 is final: a token cannot refresh itself."""

    can_refresh = False

    def __init__(self, token: Secret) -> None:
        self._header = ("X-API-TOKEN", token.reveal())

    def cached_header(self) -> tuple[str, str] | None:
        return self._header

    async def header(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        return self._header

    def invalidate(self, value: str) -> None:
        return None

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "TokenAuth(token=***)"


class _TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: float | str = 3600
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type name
    scope: str | None = None


class _OAuthError(msgspec.Struct):
    error: str | None = None
    error_description: str | None = None


_token_decoder = msgspec.json.Decoder(_TokenAnswer)
_oauth_error_decoder = msgspec.json.Decoder(_OAuthError)


class OAuthClientCredentials:
    """OAuth 2.0 client credentials: ``POST {host}/oauth2/token`` with HTTP Basic auth.

    The access token is cached and refreshed shortly before it expires (10 % of its
    lifetime, at most 5 minutes early). One request mints it however many tasks need it
    (single flight), and that request does not belong to any caller: a caller whose
    deadline passes stops waiting, the token request goes on for the others. While the old
    token is still valid, the refresh runs in the background and calls keep using it; a
    failed background refresh is retried a few seconds later, never blocking a call.
    """

    can_refresh = True

    def __init__(
        self, endpoint: Endpoint, credentials: Credentials, *, timeout: aiohttp.ClientTimeout | None = None
    ) -> None:
        assert credentials.client_id is not None
        assert credentials.client_secret is not None
        self._url = endpoint.origin.with_path(TOKEN_PATH)
        self._client_id = credentials.client_id
        self._secret = credentials.client_secret
        self._scopes = credentials.scopes
        # The Basic credentials are base64: a server echoing them would not show the plain
        # secret, so the encoded form is a secret of its own (kept alive for the log filter).
        self._basic = Secret(base64.b64encode(f"{self._client_id}:{self._secret.reveal()}".encode()).decode("ascii"))
        self._header: tuple[str, str] | None = None
        self._token: Secret | None = None
        self._retired: list[tuple[Secret, float]] = []  # replaced tokens, until they expire
        self._refresh_at = 0.0
        self._expires_at = 0.0
        self._minting: asyncio.Task[tuple[str, str]] | None = None
        self._timeout = timeout
        self.tokens_minted = 0

    def __repr__(self) -> str:
        return f"OAuthClientCredentials(client_id={self._client_id!r}, client_secret=***)"

    def cached_header(self) -> tuple[str, str] | None:
        if self._header is not None and time.monotonic() < self._refresh_at:
            return self._header
        return None

    async def header(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        now = time.monotonic()
        if self._header is not None and now < self._refresh_at:
            return self._header
        minting = self._minting
        if minting is None:
            minting = self._minting = asyncio.get_running_loop().create_task(self._mint(http))
            minting.add_done_callback(self._minted)
        if self._header is not None and now < self._expires_at:
            return self._header  # still valid: the refresh goes on in the background
        try:
            return await asyncio.shield(minting)
        except _MintFailed as failed:  # each caller gets its own exception object
            if failed.retryable:
                raise TokenUnavailable(failed.make_error) from None
            raise failed.make_error() from None
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if minting.cancelled() and caller is not None and caller.cancelling() == 0:
                raise ClientClosedError(
                    "the client was closed while an OAuth token was being requested", method="POST", path=TOKEN_PATH
                ) from None
            raise

    def _minted(self, task: asyncio.Task[tuple[str, str]]) -> None:
        if self._minting is task:
            self._minting = None
        if task.cancelled():
            return
        failed = task.exception()  # retrieved here, so a refresh nobody awaited never warns
        if failed is not None and self._header is not None:
            now = time.monotonic()
            if now < self._expires_at:
                self._refresh_at = min(self._expires_at, now + _BACKGROUND_RETRY)
                reason = failed.make_error() if isinstance(failed, _MintFailed) else failed
                logger.warning("refreshing the OAuth token failed (%s); the current one stays in use", reason)

    def invalidate(self, value: str) -> None:
        # Only the task holding the current token clears it; tasks that failed with an
        # older token find a fresh one already minted.
        if self._header is not None and value == self._header[1]:
            self._header = None

    def close(self) -> None:
        if self._minting is not None:
            self._minting.cancel()

    async def _mint(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        form = {"grant_type": "client_credentials"}
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        try:
            async with http.post(
                self._url,
                data=form,
                headers={"Authorization": f"Basic {self._basic.reveal()}"},
                allow_redirects=False,
                timeout=self._timeout,
            ) as resp:
                body = await read_capped(resp, _TOKEN_BODY_BYTES + 1)
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), now=time.time())
        except aiohttp.ClientError as exc:
            reached = f"the OAuth token endpoint could not be reached ({redact(f'{type(exc).__name__}: {exc}')})"
            raise _MintFailed(lambda: APIConnectionError(reached, method="POST", path=TOKEN_PATH)) from None
        except TimeoutError:
            late = "the OAuth token endpoint did not answer within the attempt timeout (Timeouts.attempt)"
            raise _MintFailed(lambda: APITimeoutError(late, method="POST", path=TOKEN_PATH)) from None
        if status != 200:
            raise self._error(status, body[:_ERROR_SNIPPET_BYTES], retry_after)
        if len(body) > _TOKEN_BODY_BYTES:
            huge = (
                f"the OAuth token endpoint answered more than {_TOKEN_BODY_BYTES} bytes, which is no token "
                "answer; check base_url points to Qualtrics and no proxy rewrites the answer"
            )
            raise _MintFailed(
                lambda: ResponseTooLargeError(
                    huge, limit=_TOKEN_BODY_BYTES, setting="", status=status, method="POST", path=TOKEN_PATH
                ),
                retryable=False,
            )
        try:
            answer = decode(_token_decoder, body)
            lifetime = float(answer.expires_in)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            # Never echo this body: it may well hold the access token.
            what = str(exc) if isinstance(exc, msgspec.ValidationError) else f"not JSON ({len(body)} bytes)"
            message = f"the OAuth token endpoint answered 200 with a body that is not a token: {what}"
            raise _MintFailed(
                lambda: ResponseDecodeError(message, status=status, method="POST", path=TOKEN_PATH)
            ) from None
        # Kept referenced: secrets are masked only while they are alive. A replaced token
        # stays valid (and in flight) until it expires, so it stays masked until then too.
        now = time.monotonic()
        if self._token is not None:
            self._retired = [(t, end) for t, end in self._retired if end > now]
            self._retired.append((self._token, self._expires_at))
        self._token = Secret(answer.access_token)
        self._header = ("Authorization", f"Bearer {self._token.reveal()}")
        self._expires_at = now + lifetime
        self._refresh_at = now + lifetime - min(_MAX_REFRESH_MARGIN, lifetime * 0.1)
        self.tokens_minted += 1
        logger.debug("minted an OAuth access token valid for %.0f s", lifetime)
        return self._header

    def _error(self, status: int, body: bytes, retry_after: float | None) -> _MintFailed:
        try:
            err = decode(_oauth_error_decoder, body)
            detail = f"{err.error or 'error'}: {err.error_description or ''}".rstrip(": ")
        except (msgspec.DecodeError, msgspec.ValidationError):
            detail = snippet(body)
        where: dict[str, Any] = {"status": status, "method": "POST", "path": TOKEN_PATH}
        if status in (400, 401):
            refused = AuthenticationError if status == 401 else BadRequestError
            message = (
                f"OAuth token request refused (HTTP {status}, {detail}): check the client id and secret "
                "(Account Settings > Qualtrics IDs > OAuth Client Manager) and the requested scopes"
            )
            return _MintFailed(lambda: refused(message, **where), retryable=False)
        if status == 403:
            message = f"OAuth token request forbidden (HTTP 403, {detail}): the client may lack the requested scopes"
            return _MintFailed(lambda: PermissionDeniedError(message, **where), retryable=False)
        if status == 429:
            message = f"the OAuth token endpoint is rate limiting (HTTP 429, {detail})"
            return _MintFailed(lambda: RateLimitError(message, retry_after=retry_after, **where))
        message = f"the OAuth token endpoint failed (HTTP {status}, {detail})"
        return _MintFailed(lambda: ServerError(message, **where), retryable=status >= 500)
