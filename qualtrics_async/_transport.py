"""The aiohttp session: connection pool, TLS and socket timeouts."""

from __future__ import annotations

import ssl

import aiohttp

from qualtrics_async._config import Timeouts
from qualtrics_async._version import __version__

USER_AGENT = f"qualtrics-async/{__version__} aiohttp/{aiohttp.__version__}"


def default_ssl_context() -> ssl.SSLContext:
    """System trust store, certificate and host name checks on, TLS 1.2 at least."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def attempt_client_timeout(timeouts: Timeouts, total: float | None) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for one attempt: ``total`` bounds the headers and the body together.

    ``sock_read`` is left out when it could not fire before ``total``, which saves aiohttp
    two timer reschedules per response.
    """
    keep_sock_read = total is None or timeouts.sock_read < total
    return aiohttp.ClientTimeout(
        total=total,
        connect=None,
        sock_connect=timeouts.connect,
        sock_read=timeouts.sock_read if keep_sock_read else None,
    )


def create_http_session(
    timeouts: Timeouts, *, pool_size: int = 100, ssl_context: ssl.SSLContext | None = None
) -> aiohttp.ClientSession:
    """A session whose sockets time out on connect and on silence, with no total limit.

    The per-attempt and per-call limits are applied by the request pipeline (a total
    here would cut long downloads short, and ``sock_read`` alone does not stop a server
    that drips one byte at a time).
    """
    # Two connections above the pipeline's slots: the OAuth token request goes out while
    # its caller holds a slot.
    connector = aiohttp.TCPConnector(limit=pool_size + 2, ttl_dns_cache=300, ssl=ssl_context or default_ssl_context())
    timeout = aiohttp.ClientTimeout(
        total=None, connect=None, sock_connect=timeouts.connect, sock_read=timeouts.sock_read
    )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        raise_for_status=False,
        trust_env=False,
    )
    # aiohttp silently resends an idempotent request once after a dropped connection, which
    # would double the attempts our retry policy and budget allow (a failing server would see
    # 2 x max_attempts requests). Our pipeline retries dropped connections itself; aiohttp's own
    # test client turns the flag off the same way, as there is no public option for it.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


async def read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it is known to exceed ``limit`` bytes.

    Counted after ``Content-Encoding`` is undone: aiohttp inflates a compressed body in
    bounded steps as it is read, so a gzip bomb costs at most ``limit`` plus one step.
    A declared ``Content-Length`` of a plain body is checked before reading anything.
    """
    length = resp.content_length
    if length is not None and "Content-Encoding" not in resp.headers:
        if length > limit:
            return None
        return await resp.read()  # aiohttp stops at the declared length
    chunks: list[bytes] = []
    size = 0
    while chunk := await resp.content.readany():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The first ``limit`` bytes of a body (an error page from a proxy can be large); the rest is left unread."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
