"""Cancellation (H2), connection release before sleeping, TLS verification (B2, I3), the emulator CLI."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from qualtrics_async import QualtricsClient, RateLimits, RetryPolicy, Timeouts
from qualtrics_async._transport import default_ssl_context
from qualtrics_async.errors import ClientClosedError, TLSError
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import FAST_TIMEOUTS, TOKEN, make_client, need_tool

SLOW_RETRY = RetryPolicy(base_delay=10.0, max_delay=10.0)  # a retry would sleep for seconds


async def test_H2_asyncio_timeout_cancels_a_call_during_backoff(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=503, times=100)
    async with make_client(emulator, retry=SLOW_RETRY) as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await client.whoami()
        assert time.monotonic() - started < 1.0
        emulator.clear_faults()
        assert (await client.whoami()).user_id  # still usable after the cancellation
    assert emulator.stats.requests <= 3  # at most the attempts that fitted in 0.3 s, no more after


async def test_H2_anyio_cancel_scope_and_task_group_cancellation(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=503, times=100)
    # Every call gets a 503 and would back off for up to 10 s: only a cancellation that is
    # honoured inside the backoff lets these scopes end promptly.
    async with make_client(emulator, retry=SLOW_RETRY) as client:
        started = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            await client.whoami()
        assert scope.cancelled_caught
        assert time.monotonic() - started < 1.0

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(client.whoami)
            await anyio.sleep(0.2)
            started = time.monotonic()
            tg.cancel_scope.cancel()
        assert time.monotonic() - started < 1.0
        before = emulator.stats.requests
        await anyio.sleep(0.3)
        assert emulator.stats.requests == before  # nothing retried after the cancellation


async def test_connection_is_released_before_sleeping_between_attempts(emulator: QualtricsEmulator) -> None:
    # With a pool of one connection, a retry that still held the first response would deadlock.
    emulator.inject("GET", "/whoami", status=503, times=2)
    async with make_client(emulator, pool_size=1) as client, anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(client.whoami)
    assert emulator.stats.statuses[200] == 5


@pytest.fixture(scope="module")
def self_signed_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    need_tool("openssl", "openssl")  # makes the self-signed certificate
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_server(self_signed_cert: tuple[Path, Path]) -> AsyncIterator[tuple[str, list[int]]]:
    hits: list[int] = []

    async def whoami(request: web.Request) -> web.Response:
        hits.append(1)
        return web.json_response({"result": {"userId": "UR_1"}, "meta": {"httpStatus": "200 - OK"}})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed_cert)
    app = web.Application()
    app.router.add_get("/API/v3/whoami", whoami)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}", hits
    finally:
        await runner.cleanup()


async def test_B2_self_signed_certificate_is_refused_and_never_retried(tls_server: tuple[str, list[int]]) -> None:
    url, hits = tls_server
    async with QualtricsClient(api_token=TOKEN, base_url=url, timeouts=FAST_TIMEOUTS, env={}) as client:
        started = time.monotonic()
        with pytest.raises(TLSError, match="TLS failure") as info:
            await client.whoami()
    assert hits == []  # no HTTP request was ever sent over the unverified connection
    assert info.value.attempts in (None, 1)
    assert time.monotonic() - started < 2.0
    assert TOKEN not in str(info.value)


async def test_I3_custom_ca_is_the_only_way_to_trust_a_private_certificate(
    tls_server: tuple[str, list[int]], self_signed_cert: tuple[Path, Path]
) -> None:
    url, hits = tls_server
    context = default_ssl_context()
    context.load_verify_locations(cafile=str(self_signed_cert[0]))
    async with QualtricsClient(api_token=TOKEN, base_url=url, ssl_context=context, env={}) as client:
        assert (await client.whoami()).user_id == "UR_1"
    assert hits == [1]


def test_I3_default_tls_context_verifies_and_requires_tls12() -> None:
    context = default_ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_emulator_runs_from_the_command_line() -> None:
    script = Path(sys.executable).parent / "qualtrics-async"
    proc = subprocess.Popen(
        [str(script), "emulator", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        base_url = line.rsplit(" ", 1)[-1].strip()

        async def check() -> str:
            async with QualtricsClient(api_token="emulator-token", base_url=base_url, env={}) as client:
                return (await client.whoami()).user_id

        assert anyio.run(check).startswith("UR_")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


async def test_H3_close_wakes_calls_waiting_in_backoff_and_in_the_limiter_queue(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=429, retry_after="10")
    slow = RateLimits(brand_per_minute=2, include_defaults=False)  # the 2nd call waits ~30 s for its turn
    client = make_client(emulator, rate_limits=slow)
    outcomes: list[BaseException] = []

    async def call() -> None:
        try:
            await client.whoami()
        except ClientClosedError as exc:
            outcomes.append(exc)

    async with client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)  # gets the 429 and backs off for 10 s
            tg.start_soon(call)  # queues behind the brand limit
            await anyio.sleep(0.3)
            started = time.monotonic()
            await client.aclose()
        assert time.monotonic() - started < 1.0
    assert len(outcomes) == 2
    assert all("closed" in str(exc) for exc in outcomes)


async def test_H3_a_closed_client_can_be_opened_again(emulator: QualtricsEmulator) -> None:
    client = make_client(emulator)
    async with client:
        await client.whoami()
    with pytest.raises(ClientClosedError):
        await client.whoami()
    async with client:
        assert (await client.whoami()).user_id


async def test_pool_wait_is_outside_the_attempt_timeout_and_never_blamed_on_a_post(emulator: QualtricsEmulator) -> None:
    # One connection, busy for 1.2 s with three slow GETs; the POST queued behind them waits
    # longer than its 0.5 s attempt limit, which only starts once it has the connection.
    emulator.inject("GET", "/whoami", delay=0.4, times=3)
    emulator.inject("POST", "/directories/*/contacts", body=b'{"result": {"id": "CID_9"}, "meta": {"requestId": "r"}}')
    timeouts = Timeouts(attempt=0.5, call=10.0)
    async with make_client(emulator, pool_size=1, timeouts=timeouts) as client:
        results: list[object] = []

        async def post() -> None:
            await anyio.sleep(0.05)
            path = f"/directories/{emulator.data.default_directory_id}/contacts"
            results.append(await client.request("POST", path, json={"firstName": "B"}))

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(client.whoami)
            tg.start_soon(post)
    assert results == [{"id": "CID_9"}]
    assert emulator.stats.by_route["POST /directories/{directoryId}/contacts"] == 1
    assert emulator.stats.by_route["GET /whoami"] == 3  # none timed out in the queue


async def test_H2_H3_close_racing_a_cancellation_leaves_no_stray_cancel_request(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=429, retry_after="10")
    async with make_client(emulator) as client:
        task = asyncio.ensure_future(client.whoami())
        await asyncio.sleep(0.3)  # the call is backing off
        task.cancel()  # the caller cancels it ...
        await client.aclose()  # ... and the client closes in the same loop iteration
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert task.cancelling() == 1  # only the caller's own cancellation is left, not ours


async def test_H3_close_while_a_token_is_being_minted(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/oauth2/token", delay=5.0)
    client = make_client(emulator, client_id=emulator.client_id, client_secret=emulator.client_secret)
    async with client:
        task = asyncio.ensure_future(client.whoami())
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await task
        assert time.monotonic() - started < 1.0
        assert asyncio.current_task() is not None
