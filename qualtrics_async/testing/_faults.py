"""Fault injection: what to break, for which requests, and how a broken answer is delivered.

A :class:`Fault` says which requests it matches (method, fnmatch path pattern) and how
many times it fires; :class:`FaultTable` picks the first live fault for a request. The
delivery helpers at the bottom write a :class:`Reply` in the broken ways real networks
and proxies do: no bytes at all, half a body (or the first N bytes), one byte at a time,
or never. Big bodies (export files) are written in chunks from a memoryview, never copied.
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import msgspec
from aiohttp import web

Json = dict[str, Any]

_ENCODER = msgspec.json.Encoder()

STREAM_CHUNK = 1 << 18
"""Bodies larger than this are written in chunks of this size (with flow control)."""

PROXY_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass(slots=True)
class Reply:
    """An answer before it is written: a JSON document (``payload``) or raw ``body`` bytes.

    ``body`` may be a memoryview (a byte range of a cached export file): it is sent as is.
    """

    status: int
    payload: Json | None = None
    body: bytes | memoryview = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes | memoryview:
        return self.body if self.payload is None else _ENCODER.encode(self.payload)

    def header_map(self) -> dict[str, str]:
        return {**self.headers, "Content-Type": self.content_type}


@dataclass(eq=False, kw_only=True)
class Fault:
    """One injected fault, created by :meth:`QualtricsEmulator.inject`.

    Matching: ``method`` (``None`` = any) and ``path``, an :func:`fnmatch.fnmatchcase`
    pattern on the path without the ``/API/v3`` prefix (``"/surveys*"``, ``"/whoami"``;
    the token endpoint is ``"/oauth2/token"``; ``None`` = any). Faults are tried in
    insertion order, at most one fires per request, and each fires ``times`` times:
    :attr:`remaining` counts down and :attr:`fired` counts up.

    Faults are applied after authentication and the rate-limit check. What a
    fault does (options combine unless noted):

    * ``delay``: sleep this many seconds first, then answer as the other options say.
    * ``status``: answer with this status and the Qualtrics error envelope
      (``error_code``/``error_message`` override its ``meta.error``).
    * ``retry_after``: add a ``Retry-After`` header with exactly this text.
    * ``html``: answer with a ``text/html`` proxy error page (status defaults to 502).
    * ``body``/``content_type``: answer with these raw bytes (status defaults to 200);
      ``content_type`` alone relabels the normal answer.
    * ``headers``: extra response headers.
    * ``redirect_to``: answer 302 with this ``Location``.
    * ``notice``: answer normally, adding ``meta.notice``.
    * ``next_page``: answer normally, replacing ``result.nextPage``; ``"{self}"`` in it
      becomes the request's own absolute URL (a pagination loop).
    * ``truncate``: send the headers with the full ``Content-Length``, half the body, close.
    * ``drop_after``: like ``truncate``, but after exactly this many body bytes (a whole
      body shorter than that is sent complete, then the connection is closed).
    * ``drip``: send the body one byte every ``drip`` seconds.
    * ``drop``: close the connection without sending a byte (alone, with ``delay`` or
      ``processed``).
    * ``hang``: never answer, until the client gives up or the emulator closes (alone,
      with ``delay`` or ``processed``).
    * ``processed``: handle the request normally *first* -- its effects happen (a mailing
      list or an import job is created, data is written) -- and only then apply the other
      options: ``delay`` waits after the handling, ``hang``/``drop`` withhold the answer,
      ``status``/``html``/``body``/``redirect_to`` replace it, ``truncate``/``drop_after``/
      ``drip`` cut or slow it. This models "a 5xx or a lost answer after the POST took
      effect" (RELIABILITY.md F6: an ambiguous write). Combines with every other option.
      Without it, a fault that replaces or withholds the answer runs no handler at all.
    """

    method: str | None = None
    path: str | None = None
    times: int = 1
    status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_after: str | None = None
    html: bool = False
    body: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] | None = None
    delay: float = 0.0
    drop: bool = False
    truncate: bool = False
    drop_after: int | None = None
    drip: float | None = None
    hang: bool = False
    redirect_to: str | None = None
    notice: str | None = None
    next_page: str | None = None
    processed: bool = False
    remaining: int = field(init=False)
    """How many more times this fault will fire."""
    fired: int = field(init=False, default=0)
    """How many times this fault has fired so far."""

    def __post_init__(self) -> None:
        if self.method is not None:
            self.method = self.method.upper()
        if self.times < 1:
            raise ValueError(f"times must be >= 1, got {self.times!r}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}")
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay!r}")
        if self.drip is not None and self.drip <= 0:
            raise ValueError(f"drip must be > 0 seconds, got {self.drip!r}")
        if self.drop_after is not None and self.drop_after < 0:
            raise ValueError(f"drop_after must be >= 0 bytes, got {self.drop_after!r}")
        shaping = {
            "status": self.status is not None,
            "error_code": self.error_code is not None,
            "error_message": self.error_message is not None,
            "retry_after": self.retry_after is not None,
            "html": self.html,
            "body": self.body is not None,
            "content_type": self.content_type is not None,
            "headers": bool(self.headers),
            "truncate": self.truncate,
            "drop_after": self.drop_after is not None,
            "drip": self.drip is not None,
            "redirect_to": self.redirect_to is not None,
            "notice": self.notice is not None,
            "next_page": self.next_page is not None,
        }
        if self.drop or self.hang:
            conflicts = [name for name, on in shaping.items() if on]
            if self.drop and self.hang:
                conflicts.append("each other")
            if conflicts:
                raise ValueError(
                    f"drop and hang send no answer; they combine only with delay and processed, not {conflicts}"
                )
        if (self.error_code is not None or self.error_message is not None) and (
            self.status is None or self.html or self.body is not None or self.redirect_to is not None
        ):
            raise ValueError(
                "error_code/error_message shape the error envelope; they need status= and no html, body or redirect_to"
            )
        if self.redirect_to is not None and self.status is not None and not 300 <= self.status <= 399:
            raise ValueError(f"redirect_to needs a 3xx status (default 302), got {self.status!r}")
        delivery = [n for n in ("truncate", "drop_after", "drip") if shaping[n]]
        if len(delivery) > 1:
            raise ValueError(f"{' and '.join(delivery)} are ways of sending a body; choose one")
        replacements = [n for n in ("html", "body", "redirect_to") if shaping[n]]
        if len(replacements) > 1:
            raise ValueError(f"{' and '.join(replacements)} each replace the answer; choose one")
        self.remaining = self.times

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to ``method`` on the API-relative ``path``."""
        return (self.method is None or self.method == method) and (
            self.path is None or fnmatch.fnmatchcase(path, self.path)
        )

    @property
    def exhausted(self) -> bool:
        """True once the fault has fired ``times`` times."""
        return self.remaining <= 0


class FaultTable:
    """Faults in insertion order; safe to add to from another thread."""

    __slots__ = ("_faults", "_lock")

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """Fire and return the first live fault matching the request, if any."""
        if not self._faults:  # the common case needs no lock
            return None
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    fault.remaining -= 1
                    fault.fired += 1
                    if fault.exhausted:
                        del self._faults[index]
                    return fault
        return None


# --- delivery ------------------------------------------------------------------------------
#
# aiohttp finishes every handler by preparing the returned response and writing EOF; when
# the transport is already closed that raises ConnectionError, which aiohttp treats as a
# premature client disconnect (silently). The raw behaviours below rely on that: they
# close the transport themselves and hand back a response that will never be written.


def respond(reply: Reply) -> web.Response:
    """The ordinary way: the whole reply at once."""
    return web.Response(status=reply.status, body=bytes(reply.encode()), headers=reply.header_map())


async def send(request: web.BaseRequest, reply: Reply) -> web.StreamResponse:
    """The whole reply: at once when small, else streamed in chunks (flow-controlled)."""
    body = reply.encode()
    if len(body) <= STREAM_CHUNK:
        return respond(reply)
    response = _streaming(reply, len(body))
    try:
        await response.prepare(request)
        await _write_chunks(response, body)
    except ConnectionError:
        pass  # the client went away mid-body; nothing left to do
    return response


def drop(request: web.BaseRequest) -> web.StreamResponse:
    """Close the connection without sending any response bytes."""
    _close(request)
    return web.Response()


async def hang() -> NoReturn:
    """Never answer. The server cancels the handler when the client disconnects
    (``handler_cancellation=True``) and :meth:`QualtricsEmulator.close` cancels the rest."""
    await asyncio.get_running_loop().create_future()
    raise AssertionError("unreachable: the future above is never resolved")


async def truncate(request: web.BaseRequest, reply: Reply, after: int | None = None) -> web.StreamResponse:
    """Announce the full ``Content-Length``, send half the body (or ``after`` bytes), then close."""
    body = reply.encode()
    response = _streaming(reply, len(body))
    response.force_close()
    try:
        await response.prepare(request)
        await _write_chunks(response, body[: len(body) // 2 if after is None else after])
    except ConnectionError:
        return response
    _close(request)
    return response


async def drip(request: web.BaseRequest, reply: Reply, interval: float) -> web.StreamResponse:
    """Send the body one byte every ``interval`` seconds."""
    body = reply.encode()
    response = _streaming(reply, len(body))
    try:
        await response.prepare(request)
        for index in range(len(body)):
            if index:
                await asyncio.sleep(interval)
            await response.write(body[index : index + 1])
    except ConnectionError:
        pass  # the client went away mid-drip; nothing left to do
    return response


async def _write_chunks(response: web.StreamResponse, body: bytes | memoryview) -> None:
    view = memoryview(body)
    for start in range(0, len(view), STREAM_CHUNK):
        await response.write(view[start : start + STREAM_CHUNK])


def _streaming(reply: Reply, length: int) -> web.StreamResponse:
    response = web.StreamResponse(status=reply.status, headers=reply.header_map())
    response.content_length = length
    return response


def _close(request: web.BaseRequest) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()
