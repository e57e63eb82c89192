"""Transport faults (RELIABILITY.md B1–B10, C7, D3, H1, H3, I1) against the real client over loopback.

Every test drives a real :class:`QualtricsClient` (aiohttp, the retry loop, the limiter) at a
raw-socket server (:mod:`tests.rawserver`) that misbehaves on the wire, and checks both what
the caller gets and how many connections and requests the server saw, so retries are proven
rather than assumed. Every error raised is checked for the API token (I1).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

import anyio
import msgspec
import pytest

from qualtrics_async import QualtricsClient, RetryPolicy, Timeouts
from qualtrics_async.errors import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    QualtricsError,
    ResponseDecodeError,
    ResponseValidationError,
    ServerError,
)
from tests.rawserver import (
    Conn,
    FullBacklog,
    RawServer,
    Reply,
    Request,
    blackhole,
    body_reply,
    chunked_unterminated,
    close,
    closed_port,
    drip,
    envelope,
    full_response,
    hang,
    html_error,
    json_reply,
    reset,
    truncated,
)

TOKEN = "rawsock-SECRET-token-9f27c4e1d3"
"""A distinctive token: it must reach the server and never appear in an error."""

GET_PATH = "/surveys/SV_1"
POST_PATH = "/surveys"
SURVEY: dict[str, Any] = {
    "id": "SV_1",
    "name": "Transport faults",
    "questions": [{"id": f"QID{i}", "text": "x" * 40} for i in range(40)],
}
"""A result of a few kB, so a truncated body is clearly shorter than the whole."""
SURVEY_JSON = envelope(SURVEY)
OTHER = {"id": "SV_2", "name": "second"}

MAX_ATTEMPTS = 3


def make_client(
    base_url: str,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    connect: float = 0.5,
    sock_read: float = 2.0,
    attempt: float = 0.5,
    call: float | None = 5.0,
    pool_size: int = 100,
) -> QualtricsClient:
    """The real client with tiny backoff and short timeouts."""
    return QualtricsClient(
        api_token=TOKEN,
        base_url=base_url,
        retry=RetryPolicy(max_attempts=max_attempts, base_delay=0.01, throttle_base_delay=0.01, max_delay=0.05),
        timeouts=Timeouts(connect=connect, sock_read=sock_read, attempt=attempt, call=call),
        pool_size=pool_size,
        env={},
    )


def assert_no_token(exc: BaseException) -> None:
    """I1: the token is in neither the message, the repr nor the formatted traceback."""
    assert TOKEN not in str(exc)
    assert TOKEN not in repr(exc)
    assert TOKEN not in "".join(traceback.format_exception(exc))


def assert_token_sent(server: RawServer) -> None:
    """The token did reach the server, so the I1 checks are not vacuous."""
    assert server.requests, "the server saw no request"
    assert all(r.headers.get("x-api-token") == TOKEN for r in server.requests)


def retry_logs(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.name == "qualtrics_async" and r.getMessage().startswith("retrying"))


async def eventually(condition: Callable[[], bool], timeout: float = 1.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {timeout} s")
        await anyio.sleep(0.01)


async def all_discarded(server: RawServer, timeout: float = 1.0) -> None:
    """Every connection the server accepted was closed by the client (none left half-read)."""
    await eventually(lambda: all(c.closed_by_client.is_set() or c.done for c in server.connections), timeout)


# -- B1: connection refused ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_B1_connection_refused_retried_for_any_method_then_connection_error_naming_host(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qualtrics_async")
    port = closed_port()
    started = time.monotonic()
    async with make_client(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(APIConnectionError) as info:
            await client.request(
                method, GET_PATH if method == "GET" else POST_PATH, json=None if method == "GET" else {}
            )
    exc = info.value
    assert type(exc) is APIConnectionError
    assert f"127.0.0.1:{port}" in str(exc)
    assert "could not connect" in str(exc)
    assert exc.attempts == MAX_ATTEMPTS  # connect-phase: nothing was sent, so POST is retried too
    assert retry_logs(caplog) == MAX_ATTEMPTS - 1
    assert "not idempotent" not in str(exc)
    assert time.monotonic() - started < 2.0
    assert_no_token(exc)


# -- B3: reset / close before the response -------------------------------------------------------


@pytest.mark.parametrize("fault", [reset, close], ids=["rst", "fin"])
async def test_B3_dropped_before_response_get_retried_and_succeeds_on_next_connection(
    fault: Callable[[], Reply],
) -> None:
    async with RawServer(fault(), json_reply(SURVEY)) as server, make_client(server.base_url) as client:
        result = await client.request("GET", GET_PATH)
    assert result == SURVEY
    assert server.request_count == 2
    assert server.connection_count == 2
    assert server.requests_per_connection() == [1, 1]
    assert_token_sent(server)


@pytest.mark.parametrize("fault", [reset, close], ids=["rst", "fin"])
async def test_B3_dropped_before_response_post_not_retried(fault: Callable[[], Reply]) -> None:
    async with RawServer(fault(), json_reply(SURVEY)) as server, make_client(server.base_url) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.request("POST", POST_PATH, json={"name": "new survey"})
        await anyio.sleep(0.1)  # room for a (wrong) retry to show up
    exc = info.value
    assert type(exc) is APIConnectionError
    assert server.request_count == 1
    assert server.connection_count == 1
    assert json.loads(server.requests[0].body) == {"name": "new survey"}
    assert exc.attempts == 1
    assert "not retried" in str(exc)
    assert "may have taken effect" in str(exc)
    assert_token_sent(server)
    assert_no_token(exc)


async def test_B3_reset_every_time_get_sends_exactly_max_attempts_requests() -> None:
    """RetryPolicy.max_attempts is "attempts per call, the first included": the server must see that many."""
    async with RawServer(reset()) as server, make_client(server.base_url) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.request("GET", GET_PATH)
    exc = info.value
    assert exc.attempts == MAX_ATTEMPTS
    assert server.request_count == MAX_ATTEMPTS, (
        f"the server saw {server.request_count} requests for {MAX_ATTEMPTS} attempts "
        f"(per connection: {server.requests_per_connection()})"
    )
    assert_no_token(exc)


# -- B4 / B5: truncated and unterminated bodies --------------------------------------------------


@pytest.mark.parametrize("then", ["close", "reset"], ids=["fin", "rst"])
async def test_B4_truncated_content_length_body_get_retried_returns_full_result(then: str) -> None:
    first = truncated(SURVEY_JSON, send=len(SURVEY_JSON) // 2, then=then)
    async with RawServer(first, json_reply(SURVEY)) as server, make_client(server.base_url) as client:
        result = await client.request("GET", GET_PATH)
    assert result == SURVEY  # the whole result, never the half that arrived first
    assert server.request_count == 2
    assert server.connection_count == 2
    assert_token_sent(server)


async def test_B4_truncated_body_every_time_get_never_returns_partial_result() -> None:
    fault = truncated(SURVEY_JSON, send=len(SURVEY_JSON) - 10)
    async with RawServer(fault) as server, make_client(server.base_url) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.request("GET", GET_PATH)
    exc = info.value
    assert not isinstance(exc, APITimeoutError)
    assert "mid-request" in str(exc)
    assert exc.attempts == MAX_ATTEMPTS
    assert server.request_count == MAX_ATTEMPTS
    assert server.connection_count == MAX_ATTEMPTS
    assert_no_token(exc)


async def test_B4_truncated_body_post_not_retried() -> None:
    fault = truncated(SURVEY_JSON, send=100)
    async with RawServer(fault, json_reply(SURVEY)) as server, make_client(server.base_url) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.request("POST", POST_PATH, json={"name": "x"})
    exc = info.value
    assert server.request_count == 1
    assert "may have taken effect" in str(exc)
    assert_no_token(exc)


async def test_B5_chunked_body_without_terminator_get_retried_returns_full_result() -> None:
    async with (
        RawServer(chunked_unterminated(SURVEY_JSON), json_reply(SURVEY)) as server,
        make_client(server.base_url) as client,
    ):
        result = await client.request("GET", GET_PATH)
    assert result == SURVEY
    assert server.request_count == 2
    assert server.connection_count == 2


async def test_B5_chunked_body_without_terminator_every_time_raises_after_max_attempts() -> None:
    async with RawServer(chunked_unterminated(SURVEY_JSON)) as server, make_client(server.base_url) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.request("GET", GET_PATH)
    exc = info.value
    assert not isinstance(exc, APITimeoutError)
    assert exc.attempts == MAX_ATTEMPTS
    assert server.request_count == MAX_ATTEMPTS
    assert server.connection_count == MAX_ATTEMPTS
    assert_no_token(exc)


# -- B6: accepted, never answered ----------------------------------------------------------------


async def test_B6_no_response_headers_attempt_timeout_fires_retried_then_timeout_error() -> None:
    started = time.monotonic()
    async with RawServer(hang()) as server, make_client(server.base_url, attempt=0.3, sock_read=5.0) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.request("GET", GET_PATH)
        elapsed = time.monotonic() - started
        await all_discarded(server)  # each timed-out connection is closed, not pooled
    exc = info.value
    assert "Timeouts.attempt" in str(exc)
    assert exc.attempts == MAX_ATTEMPTS
    assert server.request_count == MAX_ATTEMPTS
    assert server.connection_count == MAX_ATTEMPTS
    assert MAX_ATTEMPTS * 0.3 <= elapsed < 2.0
    assert_token_sent(server)
    assert_no_token(exc)


async def test_B6_no_response_headers_then_next_attempt_succeeds() -> None:
    async with (
        RawServer(hang(), json_reply(SURVEY)) as server,
        make_client(server.base_url, attempt=0.3, sock_read=5.0) as client,
    ):
        result = await client.request("GET", GET_PATH)
    assert result == SURVEY
    assert server.request_count == 2
    assert server.connection_count == 2


async def test_B6_silence_ended_by_sock_read_is_reported_as_sock_read_timeout() -> None:
    """With sock_read shorter than the attempt, the error must name the limit that fired."""
    async with (
        RawServer(hang()) as server,
        make_client(server.base_url, max_attempts=2, attempt=2.0, sock_read=0.2) as client,
    ):
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await client.request("GET", GET_PATH)
        elapsed = time.monotonic() - started
    exc = info.value
    assert server.request_count == 2
    assert elapsed < 1.5  # sock_read (0.2 s) ended each attempt, not the 2 s attempt timeout
    assert "sock_read" in str(exc), str(exc)
    assert "attempt timeout of 2 s" not in str(exc), str(exc)
    assert_no_token(exc)


# -- B7: slow drip -------------------------------------------------------------------------------


async def test_B7_slow_drip_body_hits_attempt_deadline_then_retries() -> None:
    # sock_read (1 s) is longer than the drip interval (0.2 s), so only Timeouts.attempt can end it.
    started = time.monotonic()
    async with (
        RawServer(drip(interval=0.2)) as server,
        make_client(server.base_url, attempt=0.5, sock_read=1.0) as client,
    ):
        with pytest.raises(APITimeoutError) as info:
            await client.request("GET", GET_PATH)
        elapsed = time.monotonic() - started
        await all_discarded(server)
    exc = info.value
    assert "Timeouts.attempt" in str(exc)
    assert exc.attempts == MAX_ATTEMPTS
    assert server.request_count == MAX_ATTEMPTS
    assert server.connection_count == MAX_ATTEMPTS
    assert MAX_ATTEMPTS * 0.5 <= elapsed < 2.5
    assert_no_token(exc)


async def test_B7_slow_drip_then_fast_answer_retried_and_succeeds() -> None:
    async with (
        RawServer(drip(interval=0.2), json_reply(SURVEY)) as server,
        make_client(server.base_url, attempt=0.5, sock_read=1.0) as client,
    ):
        result = await client.request("GET", GET_PATH)
    assert result == SURVEY
    assert server.request_count == 2


async def test_B7_slow_drip_total_time_bounded_by_call_deadline() -> None:
    started = time.monotonic()
    async with (
        RawServer(drip(interval=0.2)) as server,
        make_client(server.base_url, max_attempts=20, attempt=0.4, sock_read=1.0, call=1.0) as client,
    ):
        with pytest.raises(APITimeoutError) as info:
            await client.request("GET", GET_PATH)
        elapsed = time.monotonic() - started
    exc = info.value
    assert "deadline of 1 s" in str(exc)
    assert 1.0 <= elapsed < 1.5
    assert 2 <= server.request_count <= 3  # 0.4 s attempts inside a 1 s call
    assert_no_token(exc)


# -- B8: stale keep-alive ------------------------------------------------------------------------


def answer_then_close_when_idle(delay: float) -> Reply:
    """Answer with keep-alive (no ``Connection: close``), then close the idle connection."""

    async def reply(conn: Conn, request: Request) -> None:
        await conn.send(full_response(200, SURVEY_JSON))
        await asyncio.sleep(delay)
        await conn.close()

    return reply


async def test_B8_keepalive_connection_closed_while_idle_next_get_succeeds() -> None:
    async with (
        RawServer(answer_then_close_when_idle(0.05), json_reply(OTHER)) as server,
        make_client(server.base_url) as client,
    ):
        assert await client.request("GET", GET_PATH) == SURVEY
        await eventually(lambda: server.connections[0].done)
        await anyio.sleep(0.05)
        assert await client.request("GET", GET_PATH) == OTHER
    assert server.request_count == 2
    assert server.connection_count == 2


async def test_B8_stale_keepalive_closed_on_reuse_get_retried_on_fresh_connection() -> None:
    # The pooled connection is reused for the second GET, and the server closes it as that
    # request arrives (the idle-timeout race): the GET must transparently go out again.
    async with (
        RawServer(json_reply(SURVEY), close(), json_reply(OTHER)) as server,
        make_client(server.base_url) as client,
    ):
        assert await client.request("GET", GET_PATH) == SURVEY
        assert await client.request("GET", GET_PATH) == OTHER
    assert server.requests_per_connection() == [2, 1]  # the second GET was sent on the kept-alive connection
    assert server.request_count == 3
    assert server.connection_count == 2


# -- B9: proxy/CDN HTML error page ---------------------------------------------------------------

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
    + b"<p>"
    + b"The upstream server sent an invalid response. " * 60
    + b"</p>"
    + b"<!-- END-OF-PAGE-MARKER --></body></html>"
)


async def test_B9_html_502_page_is_server_error_with_snippet_and_retried_for_get() -> None:
    assert len(HTML_PAGE) > 2000
    async with RawServer(html_error(502, HTML_PAGE)) as server, make_client(server.base_url) as client:
        with pytest.raises(ServerError) as info:
            await client.request("GET", GET_PATH)
    exc = info.value
    message = str(exc)
    assert exc.status == 502
    assert not isinstance(exc, ResponseDecodeError)
    assert "HTTP 502" in message
    assert "text/html" in message
    assert "502 Bad Gateway" in message  # the page's own words, from the snippet
    assert exc.body_snippet is not None
    assert len(exc.body_snippet) <= 513
    assert "END-OF-PAGE-MARKER" not in message
    assert len(message) < 512 + 400
    assert "decode" not in message.lower()
    assert exc.__cause__ is None
    assert exc.attempts == MAX_ATTEMPTS
    assert server.request_count == MAX_ATTEMPTS
    assert_token_sent(server)
    assert_no_token(exc)


async def test_B9_html_503_page_then_success_get_retried() -> None:
    async with (
        RawServer(html_error(503, HTML_PAGE.replace(b"502 Bad", b"503 Bad")), json_reply(SURVEY)) as server,
        make_client(server.base_url) as client,
    ):
        result = await client.request("GET", GET_PATH)
    assert result == SURVEY
    assert server.request_count == 2
    assert server.requests_per_connection() == [2]  # the 503 body was read, so the connection was reused


async def test_B9_html_502_page_post_not_retried() -> None:
    async with RawServer(html_error(502, HTML_PAGE)) as server, make_client(server.base_url) as client:
        with pytest.raises(ServerError) as info:
            await client.request("POST", POST_PATH, json={"name": "x"})
    exc = info.value
    assert exc.status == 502
    assert server.request_count == 1
    assert "may have taken effect" in str(exc)
    assert_no_token(exc)


# -- B10: blackholed connection ------------------------------------------------------------------


async def test_B10_blackhole_accept_never_read_attempt_timeout_then_timeout_error() -> None:
    started = time.monotonic()
    async with (
        RawServer(on_connect=blackhole) as server,
        make_client(server.base_url, attempt=0.3, sock_read=5.0) as client,
    ):
        with pytest.raises(APITimeoutError) as info:
            await client.request("GET", GET_PATH)
        elapsed = time.monotonic() - started
    exc = info.value
    assert exc.attempts == MAX_ATTEMPTS
    assert server.connection_count == MAX_ATTEMPTS  # one fresh connection per attempt
    assert server.request_count == 0  # it never read one
    assert elapsed < 2.0
    assert_no_token(exc)


async def test_B10_connect_blackhole_get_retried_then_connect_error() -> None:
    # The listen queue is full: the SYN is dropped, nothing answers, only the connect timeout
    # (Timeouts.connect, 0.2 s, far below the 2 s attempt timeout) ends each attempt.
    started = time.monotonic()
    with FullBacklog() as hole:
        async with make_client(hole.base_url, connect=0.2, attempt=2.0) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.request("GET", GET_PATH)
    elapsed = time.monotonic() - started
    exc = info.value
    assert "connect" in str(exc), str(exc)
    assert "Timeouts.attempt" not in str(exc), str(exc)
    assert exc.attempts == MAX_ATTEMPTS
    assert MAX_ATTEMPTS * 0.2 <= elapsed < 1.5
    assert_no_token(exc)


async def test_B10_connect_blackhole_post_retried_as_connect_phase_failure() -> None:
    """A connect timeout means nothing was sent: like a refused connection it is safe to retry a POST (G1)."""
    with FullBacklog() as hole:
        async with make_client(hole.base_url, connect=0.2, attempt=2.0) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.request("POST", POST_PATH, json={"name": "x"})
    exc = info.value
    assert_no_token(exc)
    assert "may have taken effect" not in str(exc), str(exc)
    assert "connect" in str(exc), str(exc)
    assert exc.attempts == MAX_ATTEMPTS, str(exc)


# -- D3: a 2xx body that is not JSON -------------------------------------------------------------

BAD_BODIES = {
    "truncated-json": (SURVEY_JSON[: len(SURVEY_JSON) // 2], "application/json", "truncated"),
    "garbage": (b"\x00\xffgarbage{{{", "application/json", "not JSON"),
    "html-200": (b"<html><body>Maintenance</body></html>", "text/html", "not JSON (text/html)"),
}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
async def test_D3_bad_json_200_get_retried_then_response_decode_error(kind: str) -> None:
    body, content_type, words = BAD_BODIES[kind]
    async with (
        RawServer(body_reply(body, content_type=content_type)) as server,
        make_client(server.base_url) as client,
    ):
        with pytest.raises(ResponseDecodeError) as info:
            await client.request("GET", GET_PATH)
    exc = info.value
    message = str(exc)
    assert type(exc) is ResponseDecodeError
    assert not isinstance(exc, msgspec.MsgspecError)
    assert exc.__cause__ is None
    assert exc.status == 200
    assert message.startswith("HTTP 200 answer is")
    assert words in message
    assert "expected the Qualtrics JSON envelope" in message
    assert exc.attempts == MAX_ATTEMPTS
    assert server.request_count == MAX_ATTEMPTS
    assert_no_token(exc)


async def test_D3_truncated_json_200_get_retried_then_succeeds() -> None:
    body = SURVEY_JSON[: len(SURVEY_JSON) // 2]
    async with RawServer(body_reply(body), json_reply(SURVEY)) as server, make_client(server.base_url) as client:
        result = await client.request("GET", GET_PATH)
    assert result == SURVEY
    assert server.request_count == 2


async def test_D3_truncated_json_200_post_not_retried() -> None:
    body = SURVEY_JSON[: len(SURVEY_JSON) // 2]
    async with RawServer(body_reply(body), json_reply(SURVEY)) as server, make_client(server.base_url) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await client.request("POST", POST_PATH, json={"name": "x"})
    exc = info.value
    assert "truncated" in str(exc)
    assert "may have taken effect" in str(exc)
    assert server.request_count == 1
    assert_no_token(exc)


# -- C7: a 200 that is not a success -------------------------------------------------------------

META_500 = envelope(SURVEY, http_status="500 - Internal Server Error", request_id="req-meta-500")


async def test_C7_200_with_meta_http_status_500_is_server_error_not_success() -> None:
    async with RawServer(body_reply(META_500)) as server, make_client(server.base_url) as client:
        with pytest.raises(ServerError) as info:
            await client.request("GET", GET_PATH)
    exc = info.value
    assert exc.status == 500
    assert "meta.httpStatus" in str(exc)
    assert exc.request_id == "req-meta-500"
    assert server.request_count >= 1
    assert_no_token(exc)


async def test_C7_200_with_meta_http_status_500_get_is_retried_like_a_500() -> None:
    """The client maps it to ServerError(500), which it documents as retried for idempotent calls."""
    async with (
        RawServer(body_reply(META_500), json_reply(SURVEY)) as server,
        make_client(server.base_url) as client,
    ):
        result = await client.request("GET", GET_PATH)
    assert result == SURVEY
    assert server.request_count == 2


async def test_C7_200_without_result_for_get_is_decode_error_never_none() -> None:
    body = envelope(None, request_id="req-no-result")
    assert b'"result"' not in body
    async with RawServer(body_reply(body)) as server, make_client(server.base_url) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await client.request("GET", GET_PATH)
    exc = info.value
    assert "no 'result'" in str(exc)
    assert exc.request_id == "req-no-result"
    assert exc.status == 200
    assert server.request_count == 1  # a well-formed answer of the wrong shape: repeating it cannot help
    assert_no_token(exc)


async def test_C7_200_json_that_is_not_an_envelope_is_decode_error_never_none() -> None:
    async with RawServer(body_reply(b'{"unexpected": true}')) as server, make_client(server.base_url) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await client.request("GET", GET_PATH)
    exc = info.value
    assert not isinstance(exc, ResponseValidationError)
    assert "not a Qualtrics envelope" in str(exc)
    assert server.request_count == MAX_ATTEMPTS
    assert_no_token(exc)


# -- H1: cancellation mid-body -------------------------------------------------------------------


async def test_H1_cancel_mid_body_with_move_on_after_stops_at_once_and_pool_stays_healthy() -> None:
    async with (
        RawServer(drip(interval=0.05), json_reply(SURVEY)) as server,
        make_client(server.base_url, attempt=3.0, sock_read=3.0, pool_size=1) as client,
    ):
        started = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            await client.request("GET", GET_PATH)
        assert scope.cancelled_caught
        assert time.monotonic() - started < 0.8
        await anyio.sleep(0.3)
        assert server.request_count == 1  # no further attempt after the cancellation
        # The half-read connection was discarded, not put back in the pool.
        await eventually(lambda: server.connections[0].closed_by_client.is_set())
        result = await client.request("GET", GET_PATH)  # pool_size=1: a leaked slot would hang here
    assert result == SURVEY
    assert server.request_count == 2
    assert server.connection_count == 2


async def test_H1_task_cancelled_mid_body_no_further_attempts_and_next_request_succeeds() -> None:
    async with (
        RawServer(drip(interval=0.05), json_reply(SURVEY)) as server,
        make_client(server.base_url, attempt=3.0, sock_read=3.0, pool_size=1) as client,
    ):
        task = asyncio.create_task(client.request("GET", GET_PATH))
        await eventually(lambda: server.request_count == 1)
        await anyio.sleep(0.15)  # mid-body: a few bytes dripped
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.5
        await anyio.sleep(0.2)
        assert server.request_count == 1
        await eventually(lambda: server.connections[0].closed_by_client.is_set())
        with anyio.fail_after(2):
            result = await client.request("GET", GET_PATH)
    assert result == SURVEY
    assert server.request_count == 2
    assert server.connection_count == 2


# -- H3: closing the client under an in-flight request -------------------------------------------


async def test_H3_close_client_while_request_in_flight_raises_client_closed_promptly() -> None:
    async with RawServer(hang()) as server:
        client = make_client(server.base_url, attempt=5.0, sock_read=5.0)
        async with client:
            task = asyncio.create_task(client.request("GET", GET_PATH))
            await eventually(lambda: server.request_count == 1)
            started = time.monotonic()
            await client.aclose()
            with anyio.fail_after(1.0), pytest.raises(ClientClosedError) as info:
                await task
            assert time.monotonic() - started < 0.5
            exc = info.value
            assert "closed" in str(exc)
            assert_no_token(exc)

            with pytest.raises(ClientClosedError) as after:
                await client.request("GET", GET_PATH)
            assert_no_token(after.value)
        await anyio.sleep(0.1)
        assert server.request_count == 1  # neither a retry of the in-flight call nor the later call went out
        await all_discarded(server)


# -- I1: the token never appears in an error ----------------------------------------------------


def _error_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


I1_FAULTS: dict[str, tuple[Reply, str]] = {
    "rst-post": (reset(), "POST"),
    "truncated-body": (truncated(SURVEY_JSON, send=50), "GET"),
    "html-502": (html_error(502, HTML_PAGE), "GET"),
    "garbage-json": (body_reply(b"garbage"), "GET"),
    "no-headers": (hang(), "GET"),
    "meta-500": (body_reply(META_500), "GET"),
}


@pytest.mark.parametrize("kind", list(I1_FAULTS))
async def test_I1_token_absent_from_errors_and_their_chained_exceptions(kind: str) -> None:
    fault, method = I1_FAULTS[kind]
    async with RawServer(fault) as server, make_client(server.base_url, attempt=0.3) as client:
        with pytest.raises(QualtricsError) as info:
            await client.request(method, GET_PATH if method == "GET" else POST_PATH, json=None)
    assert_token_sent(server)
    for exc in _error_chain(info.value):
        assert_no_token(exc)
        assert TOKEN not in repr(getattr(exc, "__dict__", {}))  # attributes too (request_info, headers)


async def test_I1_token_absent_from_connection_refused_error() -> None:
    async with make_client(f"http://127.0.0.1:{closed_port()}") as client:
        with pytest.raises(APIConnectionError) as info:
            await client.request("GET", GET_PATH)
    for exc in _error_chain(info.value):
        assert_no_token(exc)


# Sanity for the helper server itself: a plain well-formed exchange over one kept-alive connection.
async def test_rawserver_keepalive_baseline() -> None:
    async with RawServer(json_reply(SURVEY)) as server, make_client(server.base_url) as client:
        for _ in range(3):
            assert await client.request("GET", GET_PATH) == SURVEY
    assert server.request_count == 3
    assert server.requests_per_connection() == [3]
    assert server.requests[0].path == "/API/v3/surveys/SV_1"
    assert_token_sent(server)
