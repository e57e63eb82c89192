"""Authentication: an API token header, or OAuth 2.0 client credentials with a cached token."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, Protocol

import aiohttp
import msgspec

from qualtrics_async._config import Credentials, Endpoint
from qualtrics_async._logging import logger
from qualtrics_async._sansio import parse_retry_after, snippet
from qualtrics_async._secret import Secret, redact
from qualtrics_async.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
    QualtricsError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a URL path, not a password
_MAX_REFRESH_MARGIN = 300.0


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


class TokenUnavailable(Exception):
    """The OAuth token endpoint failed transiently; the API request itself was never sent."""

    def __init__(self, error: QualtricsError) -> None:
        super().__init__(str(error))
        self.error = error


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


class OAuthClientCredentials:
    """OAuth 2.0 client credentials: ``POST {host}/oauth2/token`` with HTTP Basic auth.

    The access token is cached and refreshed shortly before it expires (10 % of its
    lifetime, at most 5 minutes early). However many tasks need a token at once, only one
    request mints it (single flight); the others wait for that one.
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
        self._header: tuple[str, str] | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self._timeout = timeout
        self.tokens_minted = 0

    def __repr__(self) -> str:
        return f"OAuthClientCredentials(client_id={self._client_id!r}, client_secret=***)"

    def cached_header(self) -> tuple[str, str] | None:
        if self._header is not None and time.monotonic() < self._refresh_at:
            return self._header
        return None

    async def header(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        header = self.cached_header()
        if header is None:
            async with self._lock:
                header = self.cached_header()
                if header is None:
                    header = await self._mint(http)
        return header

    def invalidate(self, value: str) -> None:
        # Only the task holding the current token clears it; tasks that failed with an
        # older token find a fresh one already minted.
        if self._header is not None and value == self._header[1]:
            self._header = None

    async def _mint(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        form = {"grant_type": "client_credentials"}
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        basic = base64.b64encode(f"{self._client_id}:{self._secret.reveal()}".encode()).decode("ascii")
        try:
            async with http.post(
                self._url,
                data=form,
                headers={"Authorization": f"Basic {basic}"},
                allow_redirects=False,
                timeout=self._timeout,
            ) as resp:
                body = await resp.read()
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), now=time.time())
        except aiohttp.ClientError as exc:
            raise TokenUnavailable(
                APIConnectionError(
                    f"the OAuth token endpoint could not be reached ({redact(f'{type(exc).__name__}: {exc}')})",
                    method="POST",
                    path=TOKEN_PATH,
                )
            ) from None
        except TimeoutError:
            raise TokenUnavailable(
                APITimeoutError(
                    "the OAuth token endpoint did not answer within the attempt timeout (Timeouts.attempt)",
                    method="POST",
                    path=TOKEN_PATH,
                )
            ) from None
        if status != 200:
            raise self._error(status, body, retry_after)
        try:
            answer = msgspec.json.decode(body, type=_TokenAnswer)
            lifetime = float(answer.expires_in)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            # Never echo this body: it may well hold the access token.
            what = str(exc) if isinstance(exc, msgspec.ValidationError) else f"not JSON ({len(body)} bytes)"
            raise TokenUnavailable(
                ResponseDecodeError(
                    f"the OAuth token endpoint answered 200 with a body that is not a token: {what}",
                    status=status,
                    method="POST",
                    path=TOKEN_PATH,
                )
            ) from None
        token = Secret(answer.access_token)  # registers it with the log filter
        self._header = ("Authorization", f"Bearer {token.reveal()}")
        self._refresh_at = time.monotonic() + lifetime - min(_MAX_REFRESH_MARGIN, lifetime * 0.1)
        self.tokens_minted += 1
        logger.debug("minted an OAuth access token valid for %.0f s", lifetime)
        return self._header

    def _error(self, status: int, body: bytes, retry_after: float | None) -> Exception:
        try:
            err = msgspec.json.decode(body, type=_OAuthError)
            detail = f"{err.error or 'error'}: {err.error_description or ''}".rstrip(": ")
        except (msgspec.DecodeError, msgspec.ValidationError):
            detail = snippet(body)
        where: dict[str, Any] = {"status": status, "method": "POST", "path": TOKEN_PATH}
        if status in (400, 401):
            refused = AuthenticationError if status == 401 else BadRequestError
            return refused(
                f"OAuth token request refused (HTTP {status}, {detail}): check the client id and secret "
                "(Account Settings > Qualtrics IDs > OAuth Client Manager) and the requested scopes",
                **where,
            )
        if status == 403:
            return PermissionDeniedError(
                f"OAuth token request forbidden (HTTP 403, {detail}): the client may lack the requested scopes",
                **where,
            )
        if status == 429:
            return TokenUnavailable(
                RateLimitError(
                    f"the OAuth token endpoint is rate limiting (HTTP 429, {detail})", retry_after=retry_after, **where
                )
            )
        error = ServerError(f"the OAuth token endpoint failed (HTTP {status}, {detail})", **where)
        return TokenUnavailable(error) if status >= 500 else error
