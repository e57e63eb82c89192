"""A tiny raw-socket HTTP/1.1 server on loopback for transport fault injection.

Each test scripts what the server does, either per request (``RawServer(reply1, reply2, ...)``:
the n-th request, counted over all connections, gets the n-th reply, and the last reply repeats)
or per connection (``RawServer(on_connect=handler)``). Replies write raw bytes, so a test can
send anything a broken server, proxy or network could: a reset, a truncated body, a chunked
body without its last chunk, an HTML error page, one byte at a time, or nothing at all.

The server records every connection and every request it saw, so a test can prove how many
attempts reached it instead of assuming it::

    async with RawServer(reset(), json_reply({"id": "SV_1"})) as server:
        ...  # point a client at server.base_url
    assert server.request_count == 2 and server.connection_count == 2

Only 127.0.0.1 is ever bound or contacted. Leaving the ``async with`` block stops every
handler and closes every socket, so no transport is left for the garbage collector to warn about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

HOST = "127.0.0.1"
_MAX_HEAD = 64 * 1024

_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True, slots=True)
class Request:
    """One request the server read in full (head and ``Content-Length`` body)."""

    index: int  # over the whole server, from 0
    connection: int  # index of the connection it came on, from 0
    method: str
    target: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic() when the head was read

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


@dataclass(eq=False, slots=True)
class Conn:
    """One accepted connection, with helpers to read requests and misbehave on the wire."""

    server: RawServer
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    opened_at: float = field(default_factory=time.monotonic)
    requests: list[Request] = field(default_factory=list)
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)
    _done: bool = False

    # -- reading -----------------------------------------------------------------------------

    async def read_request(self) -> Request | None:
        """Read one request; ``None`` when the client closed the connection (or reset it)."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.closed_by_client.set()
            return None
        except (asyncio.LimitOverrunError, ConnectionError):
            self.closed_by_client.set()
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        length = int(headers.get("content-length", "0") or "0")
        if length:
            try:
                body = await self.reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                self.closed_by_client.set()
                return None
        request = self.server._record(self, method, target, headers, body)
        self.requests.append(request)
        return request

    async def wait_client_gone(self) -> None:
        """Read and discard until the client closes or resets the connection (or the server stops)."""
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionError:
            pass
        self.closed_by_client.set()

    # -- writing -----------------------------------------------------------------------------

    def client_gone(self) -> bool:
        """Whether the client is known to have closed or reset the connection."""
        if self.reader.at_eof() or self.reader.exception() is not None or self.writer.is_closing():
            self.closed_by_client.set()
        return self.closed_by_client.is_set()

    async def send(self, data: bytes) -> bool:
        """Write ``data``; ``False`` if the client is gone."""
        if self.client_gone():
            return False
        try:
            self.writer.write(data)
            await self.writer.drain()
        except ConnectionError:
            self.closed_by_client.set()
            return False
        return True

    async def drip(self, data: bytes | None, interval: float) -> None:
        """Send ``data`` one byte every ``interval`` seconds (``None``: spaces, forever)."""
        i = 0
        while data is None or i < len(data):
            byte = b" " if data is None else data[i : i + 1]
            if not await self.send(byte):
                return
            i += 1
            await asyncio.sleep(interval)

    # -- ending ------------------------------------------------------------------------------

    def close_now(self) -> None:
        """Start a graceful close (FIN) without waiting for it."""
        if not self._done:
            self._done = True
            self.writer.close()

    async def close(self) -> None:
        """Close gracefully (FIN) and wait until the socket is closed."""
        self.close_now()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    async def reset(self) -> None:
        """Abort with a TCP RST: ``SO_LINGER`` on with a zero timeout, then close."""
        if self._done:
            return
        self._done = True
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    @property
    def done(self) -> bool:
        return self._done


Reply = Callable[[Conn, Request], Awaitable[None]]
"""What the server does with one request. It may answer and keep the connection, close it,
reset it, or hang; after it returns, the server reads the next request unless the connection ended."""

ConnHandler = Callable[[Conn], Awaitable[None]]
"""What the server does with one connection, from the accept (it may never read at all)."""


class RawServer:
    """A scripted HTTP/1.1 server on ``127.0.0.1`` and a free port. Use as ``async with``."""

    def __init__(self, *replies: Reply, on_connect: ConnHandler | None = None) -> None:
        if not replies and on_connect is None:
            raise ValueError("give at least one reply, or on_connect")
        self._replies: Sequence[Reply] = replies
        self._on_connect = on_connect
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connections: list[Conn] = []
        self.requests: list[Request] = []
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop accepting, cancel every handler and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in self.connections:
            await conn.close()
        await server.wait_closed()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # -- counters ----------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def connection_count(self) -> int:
        return len(self.connections)

    def requests_per_connection(self) -> list[int]:
        return [len(c.requests) for c in self.connections]

    # -- internals ---------------------------------------------------------------------------

    def _record(self, conn: Conn, method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
        request = Request(len(self.requests), conn.index, method, target, headers, body, time.monotonic())
        self.requests.append(request)
        return request

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(self, len(self.connections), reader, writer)
        self.connections.append(conn)
        try:
            if self._on_connect is not None:
                await self._on_connect(conn)
            else:
                await self._serve(conn)
        except asyncio.CancelledError:
            # The server is stopping. Swallowed on purpose: on Python 3.11 a cancelled
            # client_connected_cb task makes asyncio log "Exception in callback".
            pass
        except ConnectionError:
            conn.closed_by_client.set()
        finally:
            # No await here: a cancel arriving now would escape. aclose() waits for the close.
            self._tasks.discard(task)
            conn.close_now()

    async def _serve(self, conn: Conn) -> None:
        while not conn.done:
            request = await conn.read_request()
            if request is None:
                return
            reply = self._replies[min(request.index, len(self._replies) - 1)]
            await reply(conn, request)


# -- building responses --------------------------------------------------------------------


def response_head(
    status: int,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    *,
    reason: str | None = None,
) -> bytes:
    """A status line and headers, ending with the blank line."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    lines = [f"HTTP/1.1 {status} {reason if reason is not None else _REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in items]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def full_response(
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    keep_alive: bool = True,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A complete, well-formed response with a correct ``Content-Length``."""
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    if not keep_alive:
        headers.append(("Connection", "close"))
    return response_head(status, [*headers, *extra_headers]) + body


def envelope(result: Any = None, *, http_status: str = "200 - OK", request_id: str = "req-1", **extra: Any) -> bytes:
    """A Qualtrics JSON envelope; ``result=None`` leaves ``result`` out entirely."""
    doc: dict[str, Any] = {"meta": {"httpStatus": http_status, "requestId": request_id, **extra}}
    if result is not None:
        doc["result"] = result
    return json.dumps(doc).encode()


# -- replies --------------------------------------------------------------------------------


def raw(data: bytes, *, then: str = "keep") -> Reply:
    """Write ``data`` verbatim, then ``"keep"`` the connection, ``"close"`` it, ``"reset"`` it or ``"hang"``."""
    if then not in ("keep", "close", "reset", "hang"):
        raise ValueError(f"unknown then={then!r}")

    async def reply(conn: Conn, request: Request) -> None:
        await conn.send(data)
        if then == "close":
            await conn.close()
        elif then == "reset":
            await conn.reset()
        elif then == "hang":
            await conn.wait_client_gone()
            await conn.close()

    return reply


def json_reply(result: Any, *, status: int = 200, keep_alive: bool = True, then: str | None = None) -> Reply:
    """A well-formed Qualtrics envelope answer; keeps the connection unless told otherwise."""
    data = full_response(status, envelope(result), keep_alive=keep_alive)
    return raw(data, then=then or ("keep" if keep_alive else "close"))


def body_reply(body: bytes, *, status: int = 200, content_type: str = "application/json") -> Reply:
    """A well-formed response around an arbitrary body (garbage, truncated JSON, HTML)."""
    return raw(full_response(status, body, content_type=content_type))


def html_error(status: int, page: bytes) -> Reply:
    """A proxy/CDN error page: ``text/html`` body with the given status."""
    return raw(full_response(status, page, content_type="text/html; charset=utf-8"))


def reset() -> Reply:
    """Read the request, then reset the connection without answering."""

    async def reply(conn: Conn, request: Request) -> None:
        await conn.reset()

    return reply


def close() -> Reply:
    """Read the request, then close the connection (FIN) without answering."""

    async def reply(conn: Conn, request: Request) -> None:
        await conn.close()

    return reply


def hang() -> Reply:
    """Read the request and never answer; wait until the client gives up (or the server stops)."""

    async def reply(conn: Conn, request: Request) -> None:
        await conn.wait_client_gone()
        await conn.close()

    return reply


def truncated(body: bytes, *, send: int, then: str = "close") -> Reply:
    """Promise ``len(body)`` bytes in ``Content-Length``, send only the first ``send``, then close or reset."""
    head = response_head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
    return raw(head + body[:send], then=then)


def chunked_unterminated(body: bytes, *, chunk: int = 16) -> Reply:
    """A chunked body whose chunks are all sent but never the final ``0`` chunk; then close."""
    head = response_head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    parts = [head]
    for i in range(0, len(body), chunk):
        piece = body[i : i + chunk]
        parts.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    return raw(b"".join(parts), then="close")


def drip(*, interval: float, body: bytes | None = None, declared_length: int = 1_000_000) -> Reply:
    """Send a valid head at once, then the body one byte every ``interval`` s (``None``: forever)."""
    length = len(body) if body is not None else declared_length
    head = response_head(200, {"Content-Type": "application/json", "Content-Length": str(length)})

    async def reply(conn: Conn, request: Request) -> None:
        if await conn.send(head):
            await conn.drip(body, interval)
        await conn.close()

    return reply


# -- connection handlers --------------------------------------------------------------------


async def blackhole(conn: Conn) -> None:
    """Accept the connection and never read from it nor write to it."""
    await asyncio.Event().wait()  # until the server stops (cancelled)


def closed_port() -> int:
    """A loopback port with nothing listening on it: bound, then closed, so connects are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


class FullBacklog:
    """A loopback port whose listen queue is full, so a new connect is silently dropped.

    The listening socket never accepts; filler connections are opened until one cannot
    complete its handshake. A client connecting then gets no SYN-ACK at all (no RST):
    the connect-phase blackhole that only a connect timeout can end.
    """

    def __init__(self, *, max_fillers: int = 16, probe_timeout: float = 0.1) -> None:
        self._max_fillers = max_fillers
        self._probe_timeout = probe_timeout
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []
        self.port = 0

    def __enter__(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener = listener
        listener.bind((HOST, 0))
        listener.listen(0)
        self.port = listener.getsockname()[1]
        for _ in range(self._max_fillers):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._fillers.append(filler)
            filler.settimeout(self._probe_timeout)
            try:
                filler.connect((HOST, self.port))
            except TimeoutError:
                return self  # the queue is full: this SYN was dropped
        self.__exit__(None, None, None)
        raise RuntimeError("could not fill the listen backlog on loopback")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for filler in self._fillers:
            filler.close()
        self._fillers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


__all__ = [
    "HOST",
    "Conn",
    "ConnHandler",
    "FullBacklog",
    "RawServer",
    "Reply",
    "Request",
    "blackhole",
    "body_reply",
    "chunked_unterminated",
    "close",
    "closed_port",
    "drip",
    "envelope",
    "full_response",
    "hang",
    "html_error",
    "json_reply",
    "raw",
    "reset",
    "response_head",
    "truncated",
]
