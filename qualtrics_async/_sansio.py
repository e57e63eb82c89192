"""Pure functions that interpret HTTP answers: no I/O, unit-testable on bytes.

Building paths, decoding the envelope, mapping an error answer to its exception, and
parsing ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import msgspec

from qualtrics_async._decoding import ErrorEnvelope, Meta, NestingTooDeepError, decode, error_decoder
from qualtrics_async._secret import redact_and_cut
from qualtrics_async.errors import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    RateLimitError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ResponseValidationError,
    error_for_status,
)

SNIPPET_BYTES = 512

ERROR_CODE_HINTS: dict[str, str] = {
    "BRE_0.5": (
        "Qualtrics refuses to page past 10,000 results of this listing: use an export instead "
        "(the response export, or the XM Directory contact export)"
    ),
    "ATP_2": (
        "no credentials reached Qualtrics: the X-API-TOKEN (or Authorization) header was missing or empty; "
        "check that the token is set, and that no proxy between you and Qualtrics strips the header"
    ),
}
"""Actionable hints for Qualtrics error codes whose meaning is known (docs/errors.md)."""
ERROR_CODE_CLASSES: dict[str, type[APIStatusError]] = {
    # Recorded: missing credentials answer 400 ATP_2, not 401 (docs/fidelity.md).
    "ATP_2": AuthenticationError,
}
"""Error codes whose exception class is not the one of their HTTP status."""
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# "Request proxied. For faster response times, use this host instead: https://sjc1.qualtrics.com"
_QUALTRICS_HOST = re.compile(r"(?:https://)?((?:[A-Za-z0-9-]+\.)+qualtrics\.com)\b")
NOTICE_CHARS = 300


@dataclass(slots=True)  # not frozen: built on every call, and frozen __init__ is slower
class CallInfo:
    """What an error message needs to know about the call (never credentials)."""

    method: str
    path: str
    attempts: int = 1
    elapsed: float | None = None


def build_path(template: str, /, **params: str) -> str:
    """Fill ``{name}`` placeholders with percent-encoded values.

    Every value is encoded as one path segment (``/``, ``..``, ``?`` included), so an id
    can never change which endpoint is called.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise KeyError(f"missing path parameter {name!r} for {template!r}")
        value = str(params[name])
        if not value or value in (".", ".."):
            raise ConfigurationError(f"path parameter {name!r} must be a non-empty id, got {value!r}")
        return quote(value, safe="")

    return _PLACEHOLDER.sub(fill, template)


def snippet(body: bytes | bytearray) -> str:
    """The first bytes of a body, decoded leniently, for error messages."""
    # A margin past the cut, so a secret echoed across it is masked whole before cutting.
    text = bytes(body[: SNIPPET_BYTES + 1024]).decode("utf-8", errors="replace")
    text = redact_and_cut(" ".join(text.split()), SNIPPET_BYTES)
    return text if text.endswith("…") or len(body) <= SNIPPET_BYTES + 1024 else text + "…"


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    Returns ``None`` for a missing, negative, non-finite or unparseable value, so the
    caller falls back to its own backoff. ``now`` is the current Unix time (for dates).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            return None
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):  # "+99999999999999999999" overflows
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def status_code_of(meta: Meta | None) -> int | None:
    """The numeric code in ``meta.httpStatus`` ("200 - OK" → 200), if parseable."""
    if meta is None or not meta.httpStatus:
        return None
    head = meta.httpStatus.strip().split(" ", 1)[0]
    return int(head) if head.isascii() and head.isdigit() else None  # "²".isdigit() is True


def decode_error_meta(body: bytes | bytearray) -> Meta | None:
    """The ``meta`` of an error body, or ``None`` when the body is not an envelope."""
    try:
        return decode(error_decoder, body).meta
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def status_error(
    status: int,
    reason: str,
    body: bytes | bytearray,
    headers: Mapping[str, str],
    call: CallInfo,
    *,
    meta: Meta | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """The exception for an error answer, with Qualtrics' code, message and requestId."""
    if meta is None:
        meta = decode_error_meta(body)
    error = meta.error_info if meta else None
    cls = ERROR_CODE_CLASSES.get(error.errorCode or "", error_for_status(status)) if error else error_for_status(status)
    body_text = None if meta else snippet(body)
    parts = [f"HTTP {status} {reason}".rstrip()]
    if error and (error.errorMessage or error.errorCode):
        detail = error.errorMessage or ""
        if error.errorCode:
            detail = f"{detail} ({error.errorCode})".strip()
        parts.append(f": {detail}")
    elif body_text is not None:
        kind = headers.get("Content-Type", "unknown content type").split(";")[0]
        parts.append(f": the body is not a Qualtrics envelope ({kind}): {body_text!r}" if body_text else ": empty body")
    if status in (301, 302, 303, 307, 308):
        parts.append(f"; redirect to {_origin_only(headers.get('Location'))} not followed")
    if retry_after is not None:
        parts.append(f"; Retry-After {retry_after:g} s")
    hint = (ERROR_CODE_HINTS.get(error.errorCode or "") if error else None) or cls.hint
    if meta is not None and meta.notice:
        notice = meta.notice.strip()
        parts.append(f"; Qualtrics notice: {redact_and_cut(notice, NOTICE_CHARS)!r}")
        host = _QUALTRICS_HOST.search(notice)
        if host and 400 <= status < 500:
            # The classic cause of opaque 400/404s: the account lives on another datacenter.
            hint = f"Qualtrics names another host: try QualtricsClient(base_url='https://{host.group(1)}')"
    if hint and status >= 500 and meta is not None and meta.request_id:
        hint += ", and quote the requestId to Qualtrics support if it persists"
    if hint:
        parts.append(f" — {hint}")
    kwargs: dict[str, Any] = {
        "status": status,
        "error_code": error.errorCode if error else None,
        "error_message": error.errorMessage if error else None,
        "body_snippet": body_text,
        "method": call.method,
        "path": call.path,
        "request_id": meta.request_id if meta else None,
        "attempts": call.attempts,
        "elapsed": call.elapsed,
    }
    if cls is RateLimitError:
        return RateLimitError("".join(parts), retry_after=retry_after, **kwargs)
    return cls("".join(parts), **kwargs)


def _origin_only(location: str | None) -> str:
    if not location:
        return "an unspecified location"
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)", location)
    return match.group(1) if match else "a relative location"


def decode_failure(
    exc: msgspec.DecodeError | msgspec.ValidationError,
    body: bytes | bytearray,
    status: int,
    content_type: str,
    call: CallInfo,
    request_id: str | None = None,
) -> ResponseDecodeError:
    """The exception for a 2xx body that is not the expected JSON."""
    if isinstance(exc, msgspec.ValidationError):
        message = (
            f"HTTP {status} answer has an unexpected shape: {exc}. Qualtrics may have changed the "
            "response; please report it with the requestId"
        )
        return protocol_error(message, status, call, request_id, body, cls=ResponseValidationError)
    if not body:
        what = "an empty body"
    elif isinstance(exc, NestingTooDeepError):
        what = f"JSON nested too deeply to decode ({len(body)} bytes; no Qualtrics answer nests like this)"
    elif "truncated" in str(exc):
        what = f"truncated or invalid JSON ({len(body)} bytes)"
    else:
        kind = content_type.split(";")[0] or "no content type"
        what = f"a body that is not JSON ({kind}): {snippet(body)!r}"
    message = f"HTTP {status} answer is {what}; expected the Qualtrics JSON envelope"
    return protocol_error(message, status, call, request_id, body)


def format_size(size: int) -> str:
    """``67108864`` → ``"64 MiB"``: a bound as a reader would write it."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.4g} {unit}"
    return f"{size} bytes"


def too_large(
    what: str,
    limit: int,
    setting: str,
    call: CallInfo | None = None,
    *,
    status: int | None = None,
    request_id: str | None = None,
) -> ResponseTooLargeError:
    """The error for a body (or one record of it) past its :class:`~qualtrics_async.SizeLimits` bound."""
    message = (
        f"{what} is larger than SizeLimits.{setting} ({format_size(limit)}), so it was not read further and "
        "will not be retried; if the answer is legitimate, raise the bound: "
        f"QualtricsClient(size_limits=SizeLimits({setting}=...))"
    )
    return ResponseTooLargeError(
        message,
        limit=limit,
        setting=f"SizeLimits.{setting}",
        status=status,
        method=call.method if call else None,
        path=call.path if call else None,
        request_id=request_id,
        attempts=call.attempts if call else None,
        elapsed=call.elapsed if call else None,
    )


def protocol_error(
    message: str,
    status: int,
    call: CallInfo,
    request_id: str | None = None,
    body: bytes | bytearray | None = None,
    *,
    cls: type[ResponseDecodeError] = ResponseDecodeError,
) -> ResponseDecodeError:
    """An answer that is not what the Qualtrics protocol promises (bad JSON, no envelope, no result)."""
    return cls(
        message,
        status=status,
        body_snippet=None if body is None else snippet(body),
        method=call.method,
        path=call.path,
        request_id=request_id,
        attempts=call.attempts,
        elapsed=call.elapsed,
    )


__all__ = [
    "CallInfo",
    "ErrorEnvelope",
    "build_path",
    "decode_error_meta",
    "decode_failure",
    "protocol_error",
    "parse_retry_after",
    "snippet",
    "status_code_of",
    "status_error",
    "too_large",
]
