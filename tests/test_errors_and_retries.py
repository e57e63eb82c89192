"""Error classes and the retry rules, against the emulator's fault injection (A2–A4, C1–C9, G1)."""

from __future__ import annotations

import email.utils
import logging
import time

import pytest

from qualtrics_async import RateLimits, RetryPolicy, Timeouts
from qualtrics_async.errors import (
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    UnexpectedRedirectError,
    UnprocessableEntityError,
)
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import TOKEN, make_client


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, UnprocessableEntityError),
    ],
)
async def test_C1_C3_C5_client_errors_are_typed_and_never_retried(
    emulator: QualtricsEmulator, status: int, cls: type[APIStatusError]
) -> None:
    emulator.inject("GET", "/whoami", status=status, error_code="QX_1", error_message="nope", times=5)
    async with make_client(emulator) as client:
        with pytest.raises(cls) as info:
            await client.whoami()
    err = info.value
    assert err.status == status
    assert err.error_code == "QX_1"
    assert err.error_message == "nope"
    assert err.request_id
    assert err.request_id in str(err)
    assert (err.method, err.path) == ("GET", "/whoami")
    assert emulator.stats.requests == 1


async def test_C4_unknown_survey_is_not_found_and_not_retried(emulator: QualtricsEmulator) -> None:
    # The bounded read-after-create retry of C4 belongs to the resources that create things
    # (the API-families issue); a plain GET of an unknown id is a NotFoundError at once.
    async with make_client(emulator) as c:
        with pytest.raises(NotFoundError) as info:
            await c.surveys.get("SV_doesNotExist00")
    assert info.value.request_id
    assert emulator.stats.requests == 1


async def test_C6_5xx_retried_for_get_until_success(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=503, times=2)
    async with make_client(emulator) as client:
        me = await client.whoami()
    assert me.user_id
    assert emulator.stats.requests == 3


async def test_C6_5xx_gives_up_after_max_attempts(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=500, times=100)
    async with make_client(emulator) as client:
        with pytest.raises(ServerError) as info:
            await client.whoami()
    assert emulator.stats.requests == 4
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)


async def test_G1_post_is_not_retried_on_5xx(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/directories/*/contacts", status=500, times=5)
    async with make_client(emulator) as client:
        with pytest.raises(ServerError, match="may have taken effect"):
            await client.request(
                "POST", f"/directories/{emulator.data.default_directory_id}/contacts", json={"firstName": "A"}
            )
    assert emulator.stats.requests == 1


async def test_G1_put_and_delete_are_retried_on_5xx(emulator: QualtricsEmulator) -> None:
    emulator.inject("PUT", "/surveys/*", status=502, times=1)
    async with make_client(emulator) as client:
        with pytest.raises(APIStatusError):  # the emulator has no PUT route yet: 404 after the retry
            await client.request("PUT", "/surveys/SV_1", json={"isActive": True})
    assert emulator.stats.requests == 2


async def test_G1_export_start_post_counts_as_safe_to_repeat(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/surveys/*/export-responses", status=503, times=1)
    async with make_client(emulator) as client:
        with pytest.raises(APIStatusError):
            await client.request("POST", "/surveys/SV_1/export-responses", json={"format": "csv"})
    assert emulator.stats.requests == 2


async def test_G1_post_is_retried_on_429_because_it_was_not_processed(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/directories/*/contacts", status=429, times=2)
    async with make_client(emulator) as client:
        created = await client.request(
            "POST", f"/directories/{emulator.data.default_directory_id}/contacts", json={"firstName": "A"}
        )
    assert created["id"].startswith("CID_")  # retried past the two 429s, created once
    assert emulator.stats.requests == 3


@pytest.mark.parametrize("value", ["0", "0.2", "http-date"])
async def test_A2_valid_retry_after_is_obeyed(emulator: QualtricsEmulator, value: str) -> None:
    if value == "http-date":
        value = email.utils.formatdate(time.time() + 1, usegmt=True)
    emulator.inject("GET", "/whoami", status=429, retry_after=value)
    slow = RetryPolicy(base_delay=100, throttle_base_delay=100, max_delay=100)  # ignoring Retry-After would fail
    async with make_client(emulator, retry=slow) as client:
        started = time.monotonic()
        await client.whoami()
        elapsed = time.monotonic() - started
    assert emulator.stats.requests == 2
    assert elapsed < 2.5  # the server's value, not the 100 s backoff


@pytest.mark.parametrize("value", ["-5", "soon", ""])
async def test_A2_invalid_retry_after_falls_back_to_backoff(emulator: QualtricsEmulator, value: str) -> None:
    emulator.inject("GET", "/whoami", status=429, retry_after=value)
    async with make_client(emulator) as client:
        await client.whoami()
    assert emulator.stats.requests == 2


async def test_A2_huge_retry_after_raises_rate_limit_error_at_once(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=429, retry_after="3600")
    async with make_client(emulator) as client:
        with pytest.raises(RateLimitError, match="max_retry_after") as info:
            await client.whoami()
    assert info.value.retry_after == 3600
    assert emulator.stats.requests == 1


async def test_A3_429_without_retry_after_backs_off_and_slows_the_pacer(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=429, times=2)
    async with make_client(emulator) as client:
        await client.whoami()
        limiter = client.limiter
        from qualtrics_async import LocalRateLimiter

        assert isinstance(limiter, LocalRateLimiter)
        assert limiter.rate_multiplier("GET", "/whoami") < 1.0
    assert emulator.stats.requests == 3


async def test_A4_429_storm_stops_at_the_attempt_cap(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=429, times=1000)
    async with make_client(emulator) as client:
        with pytest.raises(RateLimitError) as info:
            await client.whoami()
    assert info.value.attempts == 4
    assert emulator.stats.requests == 4


async def test_A4_retry_budget_turns_an_outage_into_fast_failure(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=503, times=1000)
    policy = RetryPolicy(base_delay=0.001, max_delay=0.002, budget=10, retry_cost=5)
    async with make_client(emulator, retry=policy) as client:
        for _ in range(3):
            with pytest.raises(ServerError):
                await client.whoami()
        with pytest.raises(ServerError, match="retry budget exhausted"):
            await client.whoami()
    assert emulator.stats.requests == 3 + 1 + 1 + 1  # 2 retries, then one attempt each


async def test_call_deadline_bounds_retries(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", delay=2.0, times=10)
    async with make_client(emulator, timeouts=Timeouts(attempt=5.0, call=0.3)) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="deadline"):
            await client.whoami()
    assert time.monotonic() - started < 1.5


async def test_per_call_timeout_argument_overrides_the_default(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", delay=2.0)
    async with make_client(emulator) as client:
        with pytest.raises(APITimeoutError):
            await client.request("GET", "/whoami", timeout=0.2)


async def test_C8_meta_notice_is_logged_once_per_host(
    emulator: QualtricsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    notice = "Request proxied. For faster response times, use this host instead: sjc1.qualtrics.com"
    emulator.inject("GET", "/whoami", notice=notice, times=3)
    with caplog.at_level(logging.WARNING, logger="qualtrics_async"):
        async with make_client(emulator) as client:
            for _ in range(3):
                await client.whoami()
    messages = [r.getMessage() for r in caplog.records if "sjc1.qualtrics.com" in r.getMessage()]
    assert len(messages) == 1


@pytest.mark.parametrize("status", [400, 404])
async def test_C8_an_error_carrying_a_notice_names_the_host_to_use(emulator: QualtricsEmulator, status: int) -> None:
    # The peers' most repeated complaint: opaque 400/404s from the wrong datacenter, with
    # the host to use only in meta.notice.
    notice = "Request proxied. For faster response times, use this host instead: sjc1.qualtrics.com"
    emulator.inject("GET", "/surveys/*", status=status, notice=notice, times=1)
    async with make_client(emulator) as client:
        with pytest.raises(APIStatusError) as info:
            await client.surveys.get("SV_0123456789abcde")
    message = str(info.value)
    assert notice in message
    assert "base_url='https://sjc1.qualtrics.com'" in message
    assert info.value.request_id
    assert info.value.request_id in message


async def test_C8_a_server_error_notice_is_quoted_without_a_host_hint(emulator: QualtricsEmulator) -> None:
    notice = "Scheduled maintenance on sjc1.qualtrics.com until 02:00 UTC"
    emulator.inject("GET", "/whoami", status=503, notice=notice, times=10)
    async with make_client(emulator, retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(ServerError) as info:
            await client.whoami()
    assert notice in str(info.value)
    assert "base_url=" not in str(info.value)


async def test_C9_I2_redirect_to_another_origin_is_not_followed_and_gets_no_token(emulator: QualtricsEmulator) -> None:
    async with QualtricsEmulator(seed=2) as elsewhere:
        emulator.inject("GET", "/whoami", redirect_to=f"{elsewhere.base_url}/API/v3/whoami")
        async with make_client(emulator) as client:
            with pytest.raises(UnexpectedRedirectError) as info:
                await client.whoami()
        assert elsewhere.stats.requests == 0
    assert info.value.status == 302
    assert elsewhere.base_url in str(info.value)
    assert TOKEN not in str(info.value)


async def test_C7_null_result_on_a_get_is_an_error_not_none(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", body=b'{"result": null, "meta": {"httpStatus": "200 - OK", "requestId": "r-1"}}')
    async with make_client(emulator) as client:
        with pytest.raises(ResponseDecodeError, match="no 'result'") as info:
            await client.request("GET", "/whoami")
    assert info.value.request_id == "r-1"


async def test_C7_write_answered_with_meta_only_returns_none(emulator: QualtricsEmulator) -> None:
    emulator.inject("PUT", "/surveys/*", body=b'{"meta": {"httpStatus": "200 - OK", "requestId": "r-2"}}')
    async with make_client(emulator) as client:
        assert await client.request("PUT", "/surveys/SV_1", json={"isActive": False}) is None


async def test_C6_retry_after_on_a_5xx_is_capped_like_on_a_429(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=503, retry_after="3600", times=5)
    async with make_client(emulator) as client:
        started = time.monotonic()
        with pytest.raises(ServerError, match="max_retry_after"):
            await client.whoami()
    assert time.monotonic() - started < 1.0
    assert emulator.stats.requests == 1


async def test_G1_export_start_is_safe_to_repeat_whatever_the_rate_limit_table(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/surveys/*/export-responses", status=503, times=1)
    async with make_client(emulator, rate_limits=RateLimits.unlimited()) as client:
        with pytest.raises(APIStatusError) as info:
            await client.request("POST", "/surveys/SV_1/export-responses", json={"format": "csv"})
    assert info.value.status != 503  # retried past the 503
    assert emulator.stats.requests == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-TOKEN": "someone-elses-token"},
        {"x-api-token": "someone-elses-token"},
        {"Authorization": "Bearer x"},
        {"Host": "evil.example"},
        {"content-type": "text/plain"},
        {"X-Note": "a\r\nX-Injected: 1"},
    ],
)
async def test_extra_headers_cannot_replace_credentials_or_smuggle_lines(
    emulator: QualtricsEmulator, headers: dict[str, str]
) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(ConfigurationError, match="header"):
            await client.request("GET", "/whoami", headers=headers)
    assert emulator.stats.requests == 0


async def test_extra_headers_go_out_with_the_clients_own_credentials(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        me = await client.request("GET", "/whoami", headers={"Idempotency-Key": "k-1"})
    assert me["userId"]
