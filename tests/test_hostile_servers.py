"""Servers that misbehave on purpose: token echoes, deep nesting, path tricks, endless pages.

Each fake server is written from HTTP behaviour (:mod:`tests.rawserver`): what a broken or
hostile server could send, never what the client expects. The real client talks to it over
loopback. Cases follow the reliability numbering: D11 (nesting), E6 (empty pages), I7 (a
server echoing the credentials), I8 (every package logger redacts), I10 (dot segments).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import io
import json
import logging
import pkgutil
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

import qualtrics_async
from qualtrics_async import QualtricsClient, RateLimits, RetryPolicy, Timeouts
from qualtrics_async._logging import get_logger
from qualtrics_async._secret import RedactingFilter, Secret, redact
from qualtrics_async.errors import (
    BadRequestError,
    ConfigurationError,
    PaginationError,
    QualtricsError,
    ResponseDecodeError,
    ServerError,
    UnsafeURLError,
)
from qualtrics_async.webhooks import WebhookPayloadError, WebhookReceiver, encode_delivery
from tests.rawserver import Conn, RawServer, Reply, Request, body_reply, full_response, json_reply, raw

TOKEN = "echoed-SECRET-token-4b1d9e77c2"
FAST = RetryPolicy(base_delay=0.001, throttle_base_delay=0.001, max_delay=0.01)
SHORT = Timeouts(connect=2.0, sock_read=2.0, attempt=3.0, call=10.0)
DEEP = b"[" * 5000 + b"]" * 5000


def client_for(server: RawServer, **overrides: Any) -> QualtricsClient:
    kwargs: dict[str, Any] = {
        "api_token": TOKEN,
        "base_url": server.base_url,
        "retry": FAST,
        "timeouts": SHORT,
        "rate_limits": RateLimits.unlimited(),
    }
    kwargs.update(overrides)
    return QualtricsClient(env={}, **kwargs)


def everything_shown(exc: BaseException) -> str:
    """Every way an error is shown: str, repr, args, attributes, the formatted traceback."""
    parts = [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    parts += [repr(value) for value in vars(exc).values()]
    return "\n".join(parts)


def echo_credentials(status: int, *, envelope: bool = True) -> Reply:
    """An error answer quoting back the credential header it received, in every field it has."""

    async def reply(conn: Conn, request: Request) -> None:
        seen = request.headers.get("x-api-token") or request.headers.get("authorization", "")
        if envelope:
            meta = {
                "httpStatus": f"{status} - Error",
                "requestId": f"req-{seen}",
                "notice": f"token {seen}",
                "error": {"errorMessage": f"Invalid token: {seen}", "errorCode": f"E_{seen}"},
            }
            body, kind = json.dumps({"meta": meta}).encode(), "application/json"
        else:
            body, kind = f"<html><body>Bad header X-API-TOKEN: {seen}</body></html>".encode(), "text/html"
        await conn.send(full_response(status, body, content_type=kind))

    return reply


# -- I7: a server that echoes the token ------------------------------------------------------


@pytest.mark.parametrize("envelope", [True, False], ids=["envelope", "html"])
async def test_I7_error_quoting_the_token_never_shows_it(envelope: bool) -> None:
    async with RawServer(echo_credentials(400, envelope=envelope)) as server, client_for(server) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.request("GET", "/surveys/SV_1")
    assert server.requests[0].headers["x-api-token"] == TOKEN  # it was echoed for real
    shown = everything_shown(caught.value)
    assert TOKEN not in shown
    assert "***" in shown  # the echo is there, masked, so the error still says what happened


async def test_I7_retry_log_of_an_echoing_5xx_masks_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="qualtrics_async")
    async with RawServer(echo_credentials(503)) as server, client_for(server) as client:
        with pytest.raises(ServerError) as caught:
            await client.request("GET", "/surveys/SV_1")
    assert server.request_count == FAST.max_attempts
    assert any("retrying" in record.getMessage() for record in caplog.records)
    assert TOKEN not in caplog.text
    assert TOKEN not in everything_shown(caught.value)


async def test_I7_oauth_token_endpoint_echoing_the_basic_credentials_is_masked() -> None:
    secret = "oauth-client-SECRET-5e8a0c"

    async def echo(conn: Conn, request: Request) -> None:
        body = json.dumps({"error": "invalid_client", "error_description": request.headers["authorization"]})
        await conn.send(full_response(401, body.encode()))

    async with RawServer(echo) as server:
        client = QualtricsClient(
            client_id="client-1", client_secret=secret, base_url=server.base_url, retry=FAST, timeouts=SHORT, env={}
        )
        async with client:
            with pytest.raises(QualtricsError) as caught:
                await client.request("GET", "/whoami")
    basic = server.requests[0].headers["authorization"].removeprefix("Basic ")
    shown = everything_shown(caught.value)
    assert basic not in shown
    assert secret not in shown


async def test_I7_oauth_access_token_echoed_by_the_api_is_masked() -> None:
    access = "minted-ACCESS-token-77aa10f3"

    async def serve(conn: Conn, request: Request) -> None:
        if request.path == "/oauth2/token":
            body = json.dumps({"access_token": access, "expires_in": 3600}).encode()
            await conn.send(full_response(200, body))
        else:
            await echo_credentials(400)(conn, request)

    async with RawServer(serve) as server:
        client = QualtricsClient(
            client_id="client-1", client_secret="client-secret-9", base_url=server.base_url, env={}, retry=FAST
        )
        async with client:
            with pytest.raises(BadRequestError) as caught:
                await client.request("GET", "/whoami")
    assert server.requests[-1].headers["authorization"] == f"Bearer {access}"
    assert access not in everything_shown(caught.value)


async def test_I7_webhook_shared_key_echoed_in_an_api_error_is_masked() -> None:
    key = "webhook-SHARED-key-3c9d0e"
    receiver = WebhookReceiver(shared_key=key)

    async def echo_key(conn: Conn, request: Request) -> None:
        body = json.dumps({"meta": {"httpStatus": "400 - Bad Request", "error": {"errorMessage": f"key {key}"}}})
        await conn.send(full_response(400, body.encode()))

    async with RawServer(echo_key) as server, client_for(server) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.request("POST", "/eventsubscriptions", json={"sharedKey": key})
    assert key not in everything_shown(caught.value)
    assert receiver.max_body_bytes > 0  # kept alive: a secret is masked while it is in use


# -- I8: every logger of the package redacts ---------------------------------------------------


def _import_every_module() -> None:
    for module in pkgutil.walk_packages(qualtrics_async.__path__, "qualtrics_async."):
        importlib.import_module(module.name)


def test_I8_every_package_logger_carries_the_redaction_filter() -> None:
    _import_every_module()
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] == "qualtrics_async"]
    assert "qualtrics_async.contact_import" in names  # the child logger the issue found leaking
    for name in names:
        logger = logging.getLogger(name)
        if isinstance(logger, logging.Logger):  # not a PlaceHolder (a name only parents have)
            assert any(isinstance(f, RedactingFilter) for f in logger.filters), f"{name} has no redaction filter"


@pytest.fixture
def root_capture() -> Iterator[io.StringIO]:
    """A handler on the root logger, as an application would install: it sees propagated records."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


async def test_I8_child_logger_records_reaching_an_application_handler_are_masked(
    root_capture: io.StringIO,
) -> None:
    async with RawServer(json_reply({"ok": True})) as server, client_for(server):  # the token is live
        child = get_logger("qualtrics_async.contact_import")
        child.warning("batch failed: %s", f"server said X-API-TOKEN={TOKEN}")
        try:
            raise RuntimeError(f"echo {TOKEN}")
        except RuntimeError:
            child.exception("import stopped")
    text = root_capture.getvalue()
    assert "qualtrics_async.contact_import WARNING batch failed" in text
    assert "import stopped" in text
    assert TOKEN not in text


def test_I8_a_logger_outside_the_package_is_refused() -> None:
    with pytest.raises(ValueError, match="not a logger of this package"):
        get_logger("qualtrics_asyncx")


# -- D11: JSON nested too deeply ---------------------------------------------------------------


async def test_D11_deep_nesting_in_a_200_is_a_decode_error_not_retried() -> None:
    async with RawServer(body_reply(b'{"result": ' + DEEP + b"}")) as server, client_for(server) as client:
        with pytest.raises(ResponseDecodeError, match="nested too deeply") as caught:
            await client.request("GET", "/surveys/SV_1")
    assert server.request_count == 1  # the same body would come back: not retried
    assert caught.value.status == 200


async def test_D11_deep_nesting_in_a_typed_call_and_an_error_answer() -> None:
    replies = [body_reply(DEEP, status=400), body_reply(b'{"meta": ' + DEEP + b"}", status=500)]
    async with RawServer(*replies) as server, client_for(server, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(BadRequestError) as bad:
            await client.surveys.get("SV_1")
        with pytest.raises(ServerError):
            await client.surveys.get("SV_1")
    assert bad.value.status == 400
    assert bad.value.body_snippet is not None


def test_D11_deep_webhook_msg_is_a_payload_error_so_the_route_answers_400() -> None:
    key = "deep-webhook-key-1"
    receiver = WebhookReceiver(shared_key=key)
    msg = '{"a":' * 5000 + "1" + "}" * 5000
    body = encode_delivery("brand.surveyengine.completedResponse.SV_1", msg, key)
    with pytest.raises(WebhookPayloadError):
        receiver.parse(body, "application/x-www-form-urlencoded")


# -- I10: dot segments in every encoding -------------------------------------------------------

CLIMBING = ["..", ".%2e", "%2e.", "%2E%2e", "%2e%2E", "..;", ".%2e;x", "%2e"]


@pytest.mark.parametrize("segment", CLIMBING)
async def test_I10_request_and_paginate_refuse_dot_segments_in_every_encoding(segment: str) -> None:
    async with RawServer(json_reply({"elements": [], "nextPage": None})) as server, client_for(server) as client:
        with pytest.raises(ConfigurationError, match="dot segments"):
            await client.request("GET", f"/surveys/{segment}/{segment}/x")
        with pytest.raises(ConfigurationError, match="dot segments"):
            async for _ in client.paginate(f"/surveys/{segment}/x"):
                pass
    assert server.request_count == 0


@pytest.mark.parametrize("segment", CLIMBING)
async def test_I10_next_page_climbing_out_of_the_api_is_refused(segment: str) -> None:
    async def climbing(conn: Conn, request: Request) -> None:
        next_page = f"{server.base_url}/API/v3/surveys/{segment}/{segment}/{segment}/admin"
        body = json.dumps({"result": {"elements": [{"id": 1}], "nextPage": next_page}})
        await conn.send(full_response(200, body.encode()))

    async with RawServer(climbing) as server, client_for(server) as client:
        with pytest.raises(UnsafeURLError):
            async for _ in client.paginate("/surveys"):
                pass
    assert server.request_count == 1  # the first page only: the token never went to the climbing URL


# -- E6: empty pages whose nextPage keeps changing ---------------------------------------------


async def test_E6_endless_empty_pages_stop_with_a_pagination_error() -> None:
    async def endless(conn: Conn, request: Request) -> None:
        page = request.index + 1
        body = json.dumps({"result": {"elements": [], "nextPage": f"{base}/API/v3/surveys?offset={page}"}})
        await conn.send(full_response(200, body.encode()))

    async with RawServer(endless) as server:
        base = server.base_url
        async with client_for(server) as client:
            with pytest.raises(PaginationError, match="empty pages in a row"):
                async for _ in client.paginate("/surveys"):
                    pass
    assert server.request_count == qualtrics_async.pagination.MAX_EMPTY_PAGES


async def test_E6_empty_pages_between_full_ones_are_followed() -> None:
    async def sparse(conn: Conn, request: Request) -> None:
        page = request.index
        elements = [{"id": page}] if page % 10 == 9 else []
        next_page = f"{base}/API/v3/surveys?offset={page + 1}" if page < 59 else None
        body = json.dumps({"result": {"elements": elements, "nextPage": next_page}})
        await conn.send(full_response(200, body.encode()))

    async with RawServer(sparse) as server:
        base = server.base_url
        async with client_for(server) as client:
            ids = [item["id"] async for item in client.paginate("/surveys")]
    assert ids == [9, 19, 29, 39, 49, 59]


# -- review findings: headers, cuts, rotated tokens, relative nextPage --------------------------


async def test_I7_a_token_straddling_the_snippet_cut_is_not_half_shown() -> None:
    async def page(conn: Conn, request: Request) -> None:
        body = ("x" * 500 + " " + request.headers["x-api-token"] + " tail").encode()
        await conn.send(full_response(403, body, content_type="text/html"))

    async with RawServer(page) as server, client_for(server) as client:
        with pytest.raises(QualtricsError) as caught:
            await client.request("GET", "/surveys/SV_1")
    shown = everything_shown(caught.value)
    assert TOKEN[:6] not in shown  # not even the first characters survive the cut


def test_I7_two_secrets_of_one_value_stay_masked_while_either_lives() -> None:
    first, second = Secret("shared-value-1234"), Secret("shared-value-1234")
    del first
    gc.collect()
    assert redact("x shared-value-1234 y") == "x *** y"
    del second
    gc.collect()
    assert redact("x shared-value-1234 y") == "x shared-value-1234 y"


async def test_I7_a_replaced_oauth_token_stays_masked_until_it_expires() -> None:
    minted: list[str] = []

    async def serve(conn: Conn, request: Request) -> None:
        if request.path == "/oauth2/token":
            minted.append(f"rotated-ACCESS-token-{len(minted)}-a81c")
            body = json.dumps({"access_token": minted[-1], "expires_in": 1})
            await conn.send(full_response(200, body.encode()))
        else:
            await conn.send(full_response(200, b'{"result": {}, "meta": {"httpStatus": "200 - OK"}}'))

    async with RawServer(serve) as server:
        client = QualtricsClient(client_id="c", client_secret="client-secret-9", base_url=server.base_url, env={})
        async with client:
            await client.request("GET", "/whoami")
            await asyncio.sleep(1.0)  # past the refresh point: the next call mints a new token
            await client.request("GET", "/whoami")
            gc.collect()
            assert len(minted) >= 2
            assert redact(f"echo {minted[0]}") == "echo ***"  # still valid for a moment, still masked


async def test_I7_non_utf8_header_bytes_give_a_printable_error() -> None:
    head = b"HTTP/1.1 502 Bad \xff\xfe\r\nContent-Type: text/\xff\xfehtml\r\nContent-Length: 4\r\n\r\nnope"
    async with RawServer(raw(head)) as server, client_for(server, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(ServerError) as caught:
            await client.request("GET", "/surveys/SV_1")
    everything_shown(caught.value).encode("utf-8")  # no lone surrogate left in any of it


@pytest.mark.parametrize(
    "retry_after", ["Mon, 01 Jan 2025 00:00:00 +99999999999999999999", "1e999", "²", "Wed, 99 Foo 2015"]
)
async def test_A2_unparseable_retry_after_falls_back_to_backoff(retry_after: str) -> None:
    throttled = raw(full_response(429, b"{}", extra_headers=[("Retry-After", retry_after)]))
    async with RawServer(throttled, json_reply({"id": "SV_1"})) as server, client_for(server) as client:
        assert await client.request("GET", "/surveys/SV_1") == {"id": "SV_1"}
    assert server.request_count == 2


async def test_C7_a_meta_status_of_unicode_digits_is_a_protocol_error_not_a_value_error() -> None:
    body = json.dumps({"result": {"id": 1}, "meta": {"httpStatus": "²² - odd"}}).encode()
    async with RawServer(body_reply(body)) as server, client_for(server) as client:
        assert await client.request("GET", "/surveys/SV_1") == {"id": 1}


async def test_C7_a_204_where_a_result_is_expected_is_a_protocol_error() -> None:
    async with RawServer(raw(b"HTTP/1.1 204 No Content\r\n\r\n")) as server, client_for(server) as client:
        with pytest.raises(ResponseDecodeError, match="204"):
            await client.surveys.get("SV_1")
        assert await client.request("DELETE", "/surveys/SV_1") is None
    assert server.request_count == 2  # not retried


@pytest.mark.parametrize("path", ["/API/v3/surveys%2F..%2Fusers", "/API/v3/surveys%5C..%5Cusers", "/API/v3/a\\..\\b"])
async def test_I10_relative_next_page_with_encoded_separators_is_unsafe(path: str) -> None:
    body = json.dumps({"result": {"elements": [{"id": 1}], "nextPage": path}}).encode()
    async with RawServer(body_reply(body)) as server, client_for(server) as client:
        seen: list[Any] = []

        async def walk() -> None:
            async for item in client.paginate("/surveys"):
                seen.append(item)

        with pytest.raises(UnsafeURLError):
            await walk()
    assert seen == [{"id": 1}]  # the first page was delivered
    assert server.request_count == 1
