"""The exception hierarchy of qualtrics-async.

Every error raised by the client derives from :class:`QualtricsError`::

    QualtricsError
    ├── ConfigurationError            bad arguments or environment, raised before any request
    ├── ClientClosedError             the client was closed (or never opened)
    ├── APIConnectionError            the request did not get an HTTP answer
    │   ├── APITimeoutError           an attempt or the whole call ran out of time
    │   └── TLSError                  certificate or handshake failure (never retried)
    ├── APIStatusError                Qualtrics answered with an error status
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401, and 400 ATP_2 (no credentials reached Qualtrics)
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── ConflictError             409
    │   ├── PayloadTooLargeError      413
    │   ├── UnprocessableEntityError  422
    │   ├── RateLimitError            429 (carries ``retry_after``)
    │   ├── ServerError               5xx
    │   └── UnexpectedRedirectError   3xx that the client refused to follow
    ├── ResponseDecodeError           the body is not the JSON envelope it should be
    │   ├── ResponseValidationError   JSON, but of the wrong shape for the typed model
    │   └── ResponseTooLargeError     a body (or one record of it) past its SizeLimits bound
    ├── PaginationError               a ``nextPage`` that repeats
    ├── UnsafeURLError                a URL on another origin (would leak the token)
    ├── ResponseNotReadyError         a new response still answered 202 at the deadline
    ├── ResponseImportError           a response import did not complete
    │   ├── ResponseImportFailedError     Qualtrics reported the job ``failed``
    │   └── ResponseImportTimeoutError    still running at the caller's deadline
    └── ExportError                   a response export did not produce a whole file
        ├── ExportFailedError         Qualtrics reported the job ``failed``
        ├── ExportTimeoutError        the job did not finish before the caller's deadline
        ├── ExportExpiredError        the progress id or file id is no longer known (404)
        └── ExportCorruptError        the file is not whole (size, ZIP structure or CRC)

Errors carry the HTTP method and API path, the Qualtrics ``requestId`` when there is
one, the number of attempts and the elapsed time. They never carry credentials: a
server that echoes the token back has it masked in the message, the snippet and the repr.
"""

from __future__ import annotations

from typing import Any

from qualtrics_async._secret import redact

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "ContactImportError",
    "ExportCorruptError",
    "ExportError",
    "ExportExpiredError",
    "ExportFailedError",
    "ExportTimeoutError",
    "NotFoundError",
    "PaginationError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "QualtricsError",
    "RateLimitError",
    "RateLimiterUnavailableError",
    "ResponseDecodeError",
    "ResponseImportError",
    "ResponseImportFailedError",
    "ResponseImportTimeoutError",
    "ResponseNotReadyError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "TLSError",
    "UnexpectedRedirectError",
    "UnprocessableEntityError",
    "UnsafeURLError",
    "error_for_status",
]


class QualtricsError(Exception):
    """Root of every error raised by qualtrics-async.

    Attributes:
        method: HTTP method of the failed call, when there was one.
        path: API path of the failed call (relative to ``/API/v3``), never with credentials.
        request_id: Qualtrics ``meta.requestId``; quote it to Qualtrics support.
        attempts: how many attempts were made before giving up.
        elapsed: seconds spent on the call, retries included.
        may_have_taken_effect: for a failed request, whether Qualtrics may have acted on it:
            ``False`` when it provably did not (never sent, refused with a 4xx or a 429),
            ``True`` when the answer was lost or was a 5xx after the request arrived (a
            write may have happened: do not blindly repeat it), ``None`` when unknown.
    """

    may_have_taken_effect: bool | None = None
    partial_report: Any = None
    """Set on an error that stopped a bulk contact import: the
    :class:`~qualtrics_async.contact_import.ImportReport` of what was done before it."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        request_id: str | None = None,
        attempts: int | None = None,
        elapsed: float | None = None,
    ) -> None:
        self.message = message  # masked and made printable by __setattr__
        super().__init__(self.message)
        self.method = method
        self.path = path
        self.request_id = request_id
        self.attempts = attempts
        self.elapsed = elapsed

    def __setattr__(self, name: str, value: Any) -> None:
        # Every text an error carries may come from the server (a message, a code, a request
        # id, a snippet), and a server may echo the credentials it received.
        # Header bytes that are not UTF-8 reach us as lone surrogates, which no UTF-8 log
        # or file could hold: they are written as escapes.
        if isinstance(value, str):
            value = redact(value)
            if not value.isascii():
                value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__setattr__(name, value)

    def __str__(self) -> str:
        parts = [self.message]
        where = " ".join(p for p in (self.method, self.path) if p)
        if where:
            parts.append(f"[{where}]")
        if self.request_id:
            parts.append(f"(requestId {self.request_id})")
        if self.attempts and self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        return redact(" ".join(parts))  # message may have been extended after __init__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ConfigurationError(QualtricsError, ValueError):
    """Bad arguments or environment (credentials, datacenter, base URL); nothing was sent."""


class ClientClosedError(QualtricsError, RuntimeError):
    """The client is not open: use it inside ``async with QualtricsClient(...) as client:``."""


class APIConnectionError(QualtricsError):
    """No HTTP answer: connection refused, reset, DNS failure, truncated body."""


class APITimeoutError(APIConnectionError):
    """An attempt, or the whole call including retries, ran out of time."""


class TLSError(APIConnectionError):
    """The TLS handshake or certificate check failed. Never retried and never downgraded."""


class APIStatusError(QualtricsError):
    """Qualtrics answered with an error status.

    Attributes:
        status: the HTTP status code.
        error_code: ``meta.error.errorCode`` from the body, when present.
        error_message: ``meta.error.errorMessage`` from the body, when present.
        body_snippet: the first bytes of a body that was not a Qualtrics envelope
            (an HTML page from a proxy, say), decoded leniently.
    """

    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_code: str | None = None,
        error_message: str | None = None,
        body_snippet: str | None = None,
        method: str | None = None,
        path: str | None = None,
        request_id: str | None = None,
        attempts: int | None = None,
        elapsed: float | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, request_id=request_id, attempts=attempts, elapsed=elapsed)
        self.status = status
        self.error_code = error_code
        self.error_message = error_message
        self.body_snippet = body_snippet


class BadRequestError(APIStatusError):
    """400: a parameter is missing or invalid (names are case-sensitive)."""

    hint = "check the parameter names and values against the Qualtrics API reference"


class AuthenticationError(APIStatusError):
    """401: the API token or OAuth credentials are invalid or expired; also 400 with
    ``error_code`` ``ATP_2``, Qualtrics' answer when no credentials reached it at all."""

    hint = (
        "check QUALTRICS_API_TOKEN (Account Settings > Qualtrics IDs) or the OAuth client id/secret, "
        "and that the datacenter matches your account"
    )


class PermissionDeniedError(APIStatusError):
    """403: authenticated, but without the permission or OAuth scope this call needs."""

    hint = "the user lacks the permission (or the OAuth client the scope) for this call"


class NotFoundError(APIStatusError):
    """404: the id does not exist or is not visible to this user."""

    hint = "check the id, and that it belongs to this brand and datacenter"


class ConflictError(APIStatusError):
    """409: the request conflicts with an existing item."""

    hint = "the item already exists or was changed meanwhile: read its current state, then retry or update it"


class PayloadTooLargeError(APIStatusError):
    """413: the request body is too large (files are limited to 5 MB unless stated)."""

    hint = "split the upload into smaller parts"


class UnprocessableEntityError(APIStatusError):
    """422: the request was well formed but could not be processed."""

    hint = "the values are well formed but not acceptable here; check them against the API reference"


class RateLimitError(APIStatusError):
    """429: a rate limit or the concurrent-request limit was exceeded.

    Attributes:
        retry_after: seconds the server asked to wait (``Retry-After``), if it said.
    """

    hint = "lower the rate (QualtricsClient(rate_limits=...)) or wait and retry"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RateLimiterUnavailableError(QualtricsError):
    """The shared rate limiter's store (Redis) did not answer and its policy is to fail fast.

    Raised before the request was sent (``RedisRateLimiter(when_unavailable="raise")``);
    the default policy falls back to a per-worker share of the limits instead.
    """


class ServerError(APIStatusError):
    """5xx: Qualtrics (or a proxy in front of it) failed. Retried for idempotent calls."""

    hint = "a failure on Qualtrics' side or a proxy in front of it; retry later"


class UnexpectedRedirectError(APIStatusError):
    """3xx: the client does not follow redirects to another origin with your credentials."""

    hint = "use the base URL the redirect points to, if you trust it"


class ResponseDecodeError(QualtricsError):
    """The body is not the JSON envelope Qualtrics sends (HTML, truncated, garbage)."""

    def __init__(
        self, message: str, *, status: int | None = None, body_snippet: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.status = status
        self.body_snippet = body_snippet


class ResponseValidationError(ResponseDecodeError):
    """The body is JSON but does not have the shape of the typed model (path in the message)."""


class ResponseTooLargeError(ResponseDecodeError):
    """A body, or one record streamed from it, is larger than its bound in
    :class:`~qualtrics_async.SizeLimits`; it was not read further and the call is not retried.

    Attributes:
        limit: the bound, in bytes.
        setting: which bound (``"SizeLimits.json_bytes"``, ...), to raise it if the answer is legitimate.
    """

    def __init__(self, message: str, *, limit: int, setting: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit
        self.setting = setting


class PaginationError(QualtricsError):
    """Pagination cannot continue safely (for example ``nextPage`` repeats)."""


class UnsafeURLError(QualtricsError):
    """A URL (a ``nextPage``, or an absolute URL passed to ``request``) points to another
    origin or outside ``/API/v3``; sending the token there would leak it."""


class ExportError(QualtricsError):
    """A response export (or its download) did not produce a whole file.

    Attributes:
        survey_id: the survey being exported, when known.
        progress_id: the export job's ``progressId``; keep it to resume polling later.
        file_id: the ``fileId`` of the finished export, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        survey_id: str | None = None,
        progress_id: str | None = None,
        file_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.survey_id = survey_id
        self.progress_id = progress_id
        self.file_id = file_id


class ExportFailedError(ExportError):
    """Qualtrics reported the export job as ``failed``; no further polling is done.

    Attributes:
        error_code, error_message: the job's ``error`` object, when it carried one.
    """

    def __init__(
        self, message: str, *, error_code: str | None = None, error_message: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.error_code = error_code
        self.error_message = error_message


class ExportTimeoutError(ExportError):
    """The export job did not finish before the caller's deadline. It may still finish:
    resume polling with ``client.responses.resume_export(error.state)``.

    Attributes:
        state: the job's :class:`~qualtrics_async.exports.ExportState` (serialisable).
    """

    state: Any = None


class ExportExpiredError(ExportError):
    """The progress id or file id is unknown to Qualtrics (404): files expire a week after
    the export finished. Start a new export."""


class ExportCorruptError(ExportError):
    """The exported file is not whole: its size differs from ``Content-Length``, or its ZIP
    structure or CRC-32 check failed. The partial file never takes the final name."""


class ResponseNotReadyError(QualtricsError):
    """Qualtrics still answered 202 ("not yet available") when the caller's ``timeout`` ran out.

    The response exists; ask again later.
    """


class ResponseImportError(QualtricsError):
    """A response import did not complete.

    Attributes:
        survey_id: the survey imported into.
        progress_id: the import job of the part that did not complete.
        completed: the parts imported before it (``ImportPart`` results; an import sent
            again with the same ``idempotency_key`` does not import them twice).
    """

    def __init__(
        self,
        message: str,
        *,
        survey_id: str,
        progress_id: str | None = None,
        completed: list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.survey_id = survey_id
        self.progress_id = progress_id
        self.completed = completed or []


class ResponseImportFailedError(ResponseImportError):
    """Qualtrics reported the import job ``failed`` (``error_code``/``error_message`` say why)."""

    error_code: str | None = None
    error_message: str | None = None


class ResponseImportTimeoutError(ResponseImportError):
    """The import was still running at the caller's deadline (it may still complete)."""


class ContactImportError(QualtricsError):
    """A bulk contact import left contacts that did not land (``ImportReport.raise_for_failures``).

    Attributes:
        report: the :class:`~qualtrics_async.contact_import.ImportReport`, with every failed,
            invalid and unknown contact and its reason.
    """

    def __init__(self, message: str, *, report: Any, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.report = report


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status code."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    if 300 <= status < 400:
        return UnexpectedRedirectError
    return APIStatusError
