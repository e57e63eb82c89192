"""Deadlines against servers that never quite stop: a dripping export file, a day-long Retry-After.

B11: a server that sends the export file one byte at a time (never silent long enough for
``Timeouts.sock_read``) must not hold an export past its ``timeout=``: every public entry
point that downloads fails with ``APITimeoutError`` naming the deadline, and leaves no
``.part`` file. A caller's own cancellation or timeout goes through untouched.

A8: a 429 whose ``Retry-After`` is longer than ``RetryPolicy.max_retry_after`` fails that call
with its own ``RateLimitError`` and pauses nobody (docs/rate-limits.md, "A very long
Retry-After"); a shorter one pauses the key, logged once per key per pause, in the local
and in the Redis-shared limiter alike.

Every server here is written from HTTP behaviour (:mod:`tests.rawserver`) and talked to over
loopback by the real client.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from qualtrics_async import LocalRateLimiter, QualtricsClient, RateLimits, RedisRateLimiter, RetryPolicy, Timeouts
from qualtrics_async._threads import Stopped, run_stoppable
from qualtrics_async.errors import APITimeoutError, RateLimitError
from qualtrics_async.exports import ExportFailure, ExportState
from tests.conftest import FAST_RETRY, TOKEN
from tests.rawserver import Conn, RawServer, Reply, Request, drip, envelope, full_response, hang, json_reply, raw

API = "/API/v3"
TIMEOUTS = Timeouts(connect=2.0, sock_read=2.0, attempt=3.0, call=20.0)
"""``sock_read`` (2 s) is ten times the drip interval: silence never ends a dripping download."""
DRIP = 0.2  # seconds between two bytes of a dripping file
SLACK = 3.0  # generous: a loaded CI machine must not fail these, only a call that hangs does
NDJSON = b"".join(json.dumps({"responseId": f"R_{i}", "values": {"n": i}}).encode() + b"\n" for i in range(3))
DONE = ExportState(
    survey_id="SV_1", progress_id="ES_1", format="ndjson", compress=False, status="complete", file_id="F1"
)

pytestmark = pytest.mark.usefixtures("server_stays_quiet")


def _client(server: RawServer, **overrides: Any) -> QualtricsClient:
    kwargs: dict[str, Any] = {"base_url": server.base_url, "retry": FAST_RETRY, "timeouts": TIMEOUTS, "env": {}}
    kwargs.update(overrides)
    return QualtricsClient(TOKEN, **kwargs)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def whole_file(body: bytes = NDJSON) -> Reply:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    return raw(head.encode() + body)


def export_flow(files: dict[str, Reply]) -> Reply:
    """Qualtrics' export flow for each survey of ``files``: started, complete at the first
    poll, and its file served by ``files[survey_id]``."""
    start = re.compile(rf"{API}/surveys/([^/]+)/export-responses")
    poll = re.compile(rf"{API}/surveys/([^/]+)/export-responses/ES_[^/]+")
    file = re.compile(rf"{API}/surveys/([^/]+)/export-responses/F_[^/]+/file")

    async def reply(conn: Conn, request: Request) -> None:
        if request.method == "POST" and (found := start.fullmatch(request.path)):
            answer = json_reply({"progressId": f"ES_{found[1]}", "percentComplete": 0.0, "status": "inProgress"})
        elif found := poll.fullmatch(request.path):
            answer = json_reply(
                {
                    "progressId": f"ES_{found[1]}",
                    "percentComplete": 100.0,
                    "status": "complete",
                    "fileId": f"F_{found[1]}",
                }
            )
        elif found := file.fullmatch(request.path):
            answer = files[found[1]]
        else:
            answer = json_reply(None, status=404)
        await answer(conn, request)

    return reply


def dripping() -> Reply:
    """A file of a million bytes, sent one byte every ``DRIP`` seconds: it would take days."""
    return drip(interval=DRIP)


def _assert_download_deadline(error: APITimeoutError, seconds: float) -> None:
    message = str(error)
    assert "download of the export file" in message
    assert f"within {seconds:g} s" in message
    assert "timeout=" in message  # how to raise it


# -- B11: a dripping download is bounded by the caller's deadline --------------------------------------


async def test_B11_job_download_that_drips_fails_at_its_deadline_and_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "out.ndjson"
    dest.write_bytes(b"yesterday's export")
    async with RawServer(dripping()) as server, _client(server) as client:
        job = client.responses.resume_export(DONE)
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            await job.download(dest, timeout=1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + SLACK
    _assert_download_deadline(caught.value, 1.0)
    assert "ExportJob.download()" in str(caught.value)
    assert caught.value.path == "/surveys/SV_1/export-responses/F1/file"
    assert dest.read_bytes() == b"yesterday's export"  # the previous file is untouched
    assert _leftovers(tmp_path) == ["out.ndjson"]  # and no .part
    assert server.request_count == 1  # the deadline is not a failure to retry


async def test_B11_a_download_within_the_deadline_is_written_whole(tmp_path: Path) -> None:
    body = NDJSON * 100
    async with RawServer(export_flow({"SV_1": whole_file(body)})) as server, _client(server) as client:
        result = await client.responses.export(
            "SV_1", tmp_path / "out.ndjson", format="ndjson", compress=False, timeout=10
        )
    assert result.size == len(body)
    assert _leftovers(tmp_path) == ["out.ndjson"]


async def test_B11_export_deadline_covers_start_wait_and_download(tmp_path: Path) -> None:
    async with RawServer(export_flow({"SV_1": dripping()})) as server, _client(server) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            await client.responses.export("SV_1", tmp_path / "out.zip", timeout=2.5)
        elapsed = time.monotonic() - started
    assert elapsed < 2.5 + SLACK
    _assert_download_deadline(caught.value, 2.5)  # the whole call's figure, not what was left of it
    assert "start, the wait and the download" in str(caught.value)
    assert [r.method for r in server.requests] == ["POST", "GET", "GET"]  # started, polled, download cut
    assert _leftovers(tmp_path) == []


async def test_B11_export_with_extract_leaves_no_hidden_archive(tmp_path: Path) -> None:
    async with RawServer(export_flow({"SV_1": dripping()})) as server, _client(server) as client:
        with pytest.raises(APITimeoutError):
            await client.responses.export("SV_1", tmp_path, extract=True, timeout=2.0)
    assert _leftovers(tmp_path) == []  # neither .SV_1.F_SV_1.download nor its .part


async def test_B11_a_start_that_never_answers_is_bounded_by_the_export_deadline(tmp_path: Path) -> None:
    # Timeouts.attempt (3 s) and Timeouts.call (20 s) are both longer than the export's timeout=.
    async with RawServer(hang()) as server, _client(server) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await client.responses.export("SV_1", tmp_path / "out.zip", timeout=1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + SLACK
    assert _leftovers(tmp_path) == []


async def test_B11_export_many_reports_the_dripping_survey_and_finishes_the_others(tmp_path: Path) -> None:
    files = {"SV_slow": dripping(), "SV_fast": whole_file()}
    async with RawServer(export_flow(files)) as server, _client(server) as client:
        started = time.monotonic()
        outcomes = {
            o.survey_id: o
            async for o in client.responses.export_many(
                ["SV_slow", "SV_fast"], tmp_path, format="ndjson", compress=False, timeout=2.5
            )
        }
        elapsed = time.monotonic() - started
    assert elapsed < 2.5 + SLACK
    slow = outcomes["SV_slow"]
    assert isinstance(slow, ExportFailure)
    assert isinstance(slow.error, APITimeoutError)
    _assert_download_deadline(slow.error, 2.5)
    assert outcomes["SV_fast"].ok
    assert _leftovers(tmp_path) == ["SV_fast.ndjson"]
    assert (tmp_path / "SV_fast.ndjson").read_bytes() == NDJSON


async def test_B11_incremental_run_that_drips_saves_no_state(tmp_path: Path) -> None:
    async with RawServer(export_flow({"SV_1": dripping()})) as server, _client(server) as client:
        with pytest.raises(APITimeoutError):
            await client.responses.export_incremental("SV_1", tmp_path, timeout=2.0)
    assert _leftovers(tmp_path) == []  # no file, no .part, no state: the next run does it again


async def test_B11_stream_of_a_dripping_file_stops_at_its_deadline() -> None:
    async with RawServer(export_flow({"SV_1": dripping()})) as server, _client(server) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            [r async for r in client.responses.stream("SV_1", timeout=2.5)]
        elapsed = time.monotonic() - started
    assert elapsed < 2.5 + SLACK
    _assert_download_deadline(caught.value, 2.5)


async def test_B11_records_deadline_counts_waiting_for_bytes_not_the_loop_between_records() -> None:
    # The file arrives at once; the loop then takes 3 x 0.5 s, longer than the 1 s budget.
    async with RawServer(whole_file()) as server, _client(server) as client:
        seen = []
        async for record in client.responses.resume_export(DONE).records(timeout=1.0):
            seen.append(record["responseId"])
            await asyncio.sleep(0.5)
    assert seen == ["R_0", "R_1", "R_2"]

    async with RawServer(dripping()) as server, _client(server) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="waiting for the file"):
            [r async for r in client.responses.resume_export(DONE).records(timeout=1.0)]
    assert time.monotonic() - started < 1.0 + SLACK


async def test_B11_the_callers_own_timeout_is_not_turned_into_the_download_deadline(tmp_path: Path) -> None:
    async with RawServer(dripping()) as server, _client(server) as client:
        job = client.responses.resume_export(DONE)
        with pytest.raises(TimeoutError) as caught:
            async with asyncio.timeout(0.8):
                await job.download(tmp_path / "out.ndjson", timeout=30)
    assert not isinstance(caught.value, APITimeoutError)
    assert _leftovers(tmp_path) == []


async def test_B11_cancelling_a_download_under_a_deadline_propagates_and_removes_the_part(tmp_path: Path) -> None:
    async with RawServer(dripping()) as server, _client(server) as client:
        task = asyncio.create_task(client.responses.resume_export(DONE).download(tmp_path / "out.ndjson", timeout=30))
        while not server.requests:  # noqa: ASYNC110 - the download is under way once the server saw it
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        assert _leftovers(tmp_path) == ["out.ndjson.part"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
async def test_B11_a_bad_download_deadline_is_refused_before_any_request(tmp_path: Path, timeout: float) -> None:
    async with RawServer(dripping()) as server, _client(server) as client:
        job = client.responses.resume_export(DONE)
        with pytest.raises(ValueError, match="timeout"):
            await job.download(tmp_path / "x", timeout=timeout)
        with pytest.raises(ValueError, match="timeout"):
            job.records(timeout=timeout)
    assert server.request_count == 0


# -- A8: a Retry-After longer than max_retry_after pauses nobody -----------------------------------


def throttled(retry_after: str) -> Reply:
    body = envelope(http_status="429 - Too Many Requests", error={"errorMessage": "slow down", "errorCode": "RL_1"})
    return raw(full_response(429, body, extra_headers=[("Retry-After", retry_after)]))


def routed(routes: dict[str, Reply]) -> Reply:
    """Answer each request by ``"METHOD /path"`` (the path after ``/API/v3``)."""

    async def reply(conn: Conn, request: Request) -> None:
        answer = routes.get(f"{request.method} {request.path.removeprefix(API)}", json_reply(None, status=404))
        await answer(conn, request)

    return reply


SURVEY = {"id": "SV_1", "name": "Pulse", "ownerId": "UR_1", "isActive": True}


def _pauses(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "paus" in r.getMessage()]


async def test_A8_a_day_long_retry_after_fails_its_call_and_stalls_no_other(caplog: pytest.LogCaptureFixture) -> None:
    routes = {
        "GET /whoami": throttled("86400"),  # the brand key: every call takes it
        "POST /surveys/SV_1/export-responses": throttled("86400"),  # its own row (100/min)
        "GET /surveys/SV_1": json_reply(SURVEY),
    }
    async with RawServer(routed(routes)) as server, _client(server) as client:
        with caplog.at_level(logging.WARNING, logger="qualtrics_async"):
            started = time.monotonic()
            with pytest.raises(RateLimitError, match="max_retry_after") as caught:
                await client.request("GET", "/whoami")
            assert time.monotonic() - started < SLACK  # at once, not after a wait
            assert caught.value.retry_after == 86400
            assert caught.value.attempts == 1
            # An unrelated call on the same brand key goes at once, not after a 120 s pause.
            async with asyncio.timeout(SLACK):
                assert (await client.request("GET", "/surveys/SV_1"))["name"] == "Pulse"
            # Each call that meets the 429 gets its own clear error, promptly.
            async with asyncio.timeout(SLACK):
                with pytest.raises(RateLimitError) as again:
                    await client.request("GET", "/whoami")
                assert again.value.retry_after == 86400
                # The same on an endpoint key (export starts have their own row).
                for _ in range(2):
                    with pytest.raises(RateLimitError) as export:
                        await client.responses.start_export("SV_1")
                    assert export.value.retry_after == 86400
            limiter = client.limiter
            assert isinstance(limiter, LocalRateLimiter)
            assert limiter.rate_multiplier("GET", "/whoami") < 1.0  # slowed, as after any 429
    assert _pauses(caplog) == []  # nothing was paused
    assert [f"{r.method} {r.path.removeprefix(API)}" for r in server.requests].count("GET /whoami") == 2


async def test_A8_a_retry_after_within_the_cap_pauses_the_key_and_logs_it_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Five calls in flight at once all meet a 429 with Retry-After: 1 (the same pause), then succeed.
    answered: list[int] = []

    async def first_five_throttled(conn: Conn, request: Request) -> None:
        answered.append(request.index)
        await (throttled("1") if request.index < 5 else json_reply(SURVEY))(conn, request)

    limits = RateLimits(brand_per_minute=600_000, include_defaults=False)  # let five go at once
    async with RawServer(first_five_throttled) as server, _client(server, rate_limits=limits) as client:
        with caplog.at_level(logging.WARNING, logger="qualtrics_async"):
            started = time.monotonic()
            async with asyncio.timeout(5 + SLACK):
                results = await asyncio.gather(*(client.request("GET", f"/surveys/SV_{i}") for i in range(5)))
            elapsed = time.monotonic() - started
    assert all(r["name"] == "Pulse" for r in results)
    assert elapsed >= 0.9  # the pause was kept
    pauses = _pauses(caplog)
    assert len(pauses) == 1, pauses  # one pause, one line, however many 429s it covered
    assert "'brand'" in pauses[0]
    assert "1 s" in pauses[0]


async def test_A8_a_pause_is_never_longer_than_max_retry_after() -> None:
    # max_retry_after 0.5 s: a Retry-After of 3 s fails the call and pauses nobody.
    routes = {"GET /whoami": throttled("3"), "GET /surveys/SV_1": json_reply(SURVEY)}
    policy = RetryPolicy(base_delay=0.01, throttle_base_delay=0.01, max_delay=0.05, max_retry_after=0.5)
    async with RawServer(routed(routes)) as server, _client(server, retry=policy) as client:
        with pytest.raises(RateLimitError, match=r"longer than RetryPolicy.max_retry_after \(0.5 s\)"):
            await client.request("GET", "/whoami")
        started = time.monotonic()
        await client.request("GET", "/surveys/SV_1")
        assert time.monotonic() - started < 2.0  # not the 3 s the server asked of the failed call


async def test_A8_local_limiter_logs_a_pause_once_and_a_new_pause_again(caplog: pytest.LogCaptureFixture) -> None:
    limiter = LocalRateLimiter(RateLimits(brand_per_minute=6000, include_defaults=False, window_seconds=1.0))
    with caplog.at_level(logging.WARNING, logger="qualtrics_async"):
        for _ in range(3):
            await limiter.throttled("GET", "/whoami", retry_after=0.3)  # one pause, three 429s
        assert len(_pauses(caplog)) == 1
        await limiter.acquire("GET", "/whoami")  # waits the pause out
        await limiter.throttled("GET", "/whoami", retry_after=0.2)  # a new pause
    assert len(_pauses(caplog)) == 2


# -- A8 with the shared limiter -------------------------------------------------------------------


@pytest.mark.redis
async def test_A8_redis_a_day_long_retry_after_pauses_no_worker(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    limits = RateLimits(brand_per_minute=6000, include_defaults=False)
    routes = {"GET /whoami": throttled("86400"), "GET /surveys/SV_1": json_reply(SURVEY)}
    async with (
        RawServer(routed(routes)) as server,
        RedisRateLimiter(redis_url, namespace=namespace, limits=limits) as first_limiter,
        RedisRateLimiter(redis_url, namespace=namespace, limits=limits) as second_limiter,
        _client(server, limiter=first_limiter) as first,
        _client(server, limiter=second_limiter) as second,
    ):
        with pytest.raises(RateLimitError) as caught:
            await first.request("GET", "/whoami")
        assert caught.value.retry_after == 86400
        async with asyncio.timeout(SLACK):  # the other worker is not held for 120 s
            assert (await second.request("GET", "/surveys/SV_1"))["name"] == "Pulse"
            assert (await first.request("GET", "/surveys/SV_1"))["name"] == "Pulse"


@pytest.mark.redis
async def test_A8_redis_a_shared_pause_is_logged_once_by_the_worker_that_starts_it(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    limits = RateLimits(brand_per_minute=6000, include_defaults=False, window_seconds=1.0)
    a = RedisRateLimiter(redis_url, namespace=namespace, limits=limits)
    b = RedisRateLimiter(redis_url, namespace=namespace, limits=limits)
    async with a, b:
        with caplog.at_level(logging.WARNING, logger="qualtrics_async"):
            await a.throttled("GET", "/whoami", retry_after=0.4)
            await b.throttled("GET", "/whoami", retry_after=0.4)  # the same pause, seen by another worker
            pauses = _pauses(caplog)
            assert len(pauses) == 1, pauses
            assert namespace in pauses[0]
            started = time.monotonic()
            await b.acquire("GET", "/whoami")
            assert time.monotonic() - started >= 0.3  # b waits out the shared pause
            await b.throttled("GET", "/whoami", retry_after=0.2)  # a new pause
        assert len(_pauses(caplog)) == 2
        assert not a.using_fallback  # Redis answered throughout
        assert not b.using_fallback


# -- H1: a cancelled export stops its worker thread too -----------------------------------------


def _big_zip(megabytes: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("Survey.csv", "w") as member:
        block = b"0" * (1 << 20)
        for _ in range(megabytes):
            member.write(block)
    return buffer.getvalue()


async def test_H1_export_cancelled_while_unzipping_writes_no_file_later(tmp_path: Path) -> None:
    archive = _big_zip(300)  # ~300 KB that inflate to 300 MB: unzipping takes a while

    async def serve(conn: Conn, request: Request) -> None:
        if request.method == "POST":
            body = envelope({"progressId": "ES_1", "percentComplete": 0.0, "status": "inProgress"})
        elif request.path.endswith("/file"):
            await conn.send(full_response(200, archive, content_type="application/zip"))
            return
        else:
            body = envelope({"fileId": "F_1", "percentComplete": 100.0, "status": "complete"})
        await conn.send(full_response(200, body))

    async with RawServer(serve) as server:
        client = QualtricsClient(
            api_token=TOKEN, base_url=server.base_url, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY, env={}
        )
        async with client:
            task = asyncio.create_task(client.responses.export("SV_1", tmp_path, extract=True))
            while not list(tmp_path.glob("Survey.csv.part")):  # the unzipping has begun
                await asyncio.sleep(0.005)
                assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert sorted(p.name for p in tmp_path.iterdir()) == []  # the thread stopped before this
            await asyncio.sleep(0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # and nothing appeared afterwards


async def test_H1_run_stoppable_waits_for_the_thread_to_stop_before_the_cancellation() -> None:
    steps: list[str] = []
    started = threading.Event()

    def work(stop: threading.Event) -> None:
        steps.append("started")
        started.set()
        while True:
            time.sleep(0.01)
            if stop.is_set():
                steps.append("stopped")
                raise Stopped

    task = asyncio.create_task(run_stoppable(work))
    assert await asyncio.get_running_loop().run_in_executor(None, started.wait, 10.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["started", "stopped"]  # the thread had returned when the cancellation arrived
