"""Authentication: an API token header, or OAuth 2.0 client credentials with a cached token."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Protocol

import aiohttp
import msgspec

from qualtrics_async._config import Credentials, Endpoint
from qualtrics_async._logging import logger
from qualtrics_async._sansio import snippet
from qualtrics_async._secret import Secret
from qualtrics_async.errors import AuthenticationError, BadRequestError, PermissionDeniedError, ServerError

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a URL path, not a password
_MAX_REFRESH_MARGIN = 300.0


class Auth(Protocol):
    """Supplies the credential header of each attempt."""

    can_refresh: bool

    async def header(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        """The ``(name, value)`` header that authenticates one attempt."""

    def invalidate(self, value: str) -> None:
        """Drop the credential ``value`` after a 401 so the next attempt gets a fresh one."""


class TokenAuth:
    """``X-API-TOKEN: <token>`` on every request. A 401 is final: a token cannot refresh itself."""

    can_refresh = False

    def __init__(self, token: Secret) -> None:
        self._token = token

    async def header(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        return "X-API-TOKEN", self._token.reveal()

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
        self._token: Secret | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self._timeout = timeout
        self.tokens_minted = 0

    def __repr__(self) -> str:
        return f"OAuthClientCredentials(client_id={self._client_id!r}, client_secret=***)"

    async def header(self, http: aiohttp.ClientSession) -> tuple[str, str]:
        token = self._token
        if token is None or time.monotonic() >= self._refresh_at:
            async with self._lock:
                token = self._token
                if token is None or time.monotonic() >= self._refresh_at:
                    token = await self._mint(http)
        return "Authorization", f"Bearer {token.reveal()}"

    def invalidate(self, value: str) -> None:
        # Only the task holding the current token clears it; tasks that failed with an
        # older token find a fresh one already minted.
        if self._token is not None and value == f"Bearer {self._token.reveal()}":
            self._token = None

    async def _mint(self, http: aiohttp.ClientSession) -> Secret:
        form = {"grant_type": "client_credentials"}
        if self._scopes:
            form["scope"] = " ".join(self._scopes)
        basic = base64.b64encode(f"{self._client_id}:{self._secret.reveal()}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {basic}"}
        async with http.post(
            self._url, data=form, headers=headers, allow_redirects=False, timeout=self._timeout
        ) as resp:
            body = await resp.read()
            status = resp.status
        if status != 200:
            raise self._error(status, body)
        try:
            answer = msgspec.json.decode(body, type=_TokenAnswer)
            lifetime = float(answer.expires_in)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            raise AuthenticationError(
                f"the OAuth token endpoint answered 200 with a body that is not a token: {snippet(body)!r}",
                status=status,
                method="POST",
                path=TOKEN_PATH,
            ) from None
        token = Secret(answer.access_token)
        self._token = token
        self._refresh_at = time.monotonic() + lifetime - min(_MAX_REFRESH_MARGIN, lifetime * 0.1)
        self.tokens_minted += 1
        logger.debug("minted an OAuth access token valid for %.0f s", lifetime)
        return token

    def _error(self, status: int, body: bytes) -> Exception:
        try:
            err = msgspec.json.decode(body, type=_OAuthError)
            detail = f"{err.error or 'error'}: {err.error_description or ''}".rstrip(": ")
        except (msgspec.DecodeError, msgspec.ValidationError):
            detail = snippet(body)
        kwargs = {"status": status, "method": "POST", "path": TOKEN_PATH, "error_code": None}
        if status in (400, 401):
            cls: type[AuthenticationError | BadRequestError] = AuthenticationError if status == 401 else BadRequestError
            return cls(
                f"OAuth token request refused (HTTP {status}, {detail}): check the client id and secret "
                "(Account Settings > Qualtrics IDs > OAuth Client Manager) and the requested scopes",
                **kwargs,  # type: ignore[arg-type]
            )
        if status == 403:
            return PermissionDeniedError(
                f"OAuth token request forbidden (HTTP 403, {detail}): the client may lack the requested scopes",
                **kwargs,  # type: ignore[arg-type]
            )
        return ServerError(f"OAuth token endpoint failed (HTTP {status}, {detail})", **kwargs)  # type: ignore[arg-type]
