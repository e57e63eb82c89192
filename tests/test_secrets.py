"""Secrets stay secret: no token in logs, reprs, exceptions or tracebacks (I1, I2)."""

from __future__ import annotations

import gc
import logging
import pickle
import traceback

import pytest

from qualtrics_async import QualtricsClient
from qualtrics_async._secret import RedactingFilter, Secret
from qualtrics_async.errors import QualtricsError
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import make_client

SECRET_TOKEN = "tok-SECRET-4f9a1c"
SECRET_CLIENT_SECRET = "cs-SECRET-77b2e0"


def _texts(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


async def _exercise(client: QualtricsClient, emulator: QualtricsEmulator) -> list[BaseException]:
    """Successes, retries, throttles and failures: everything that might log or raise."""
    raised: list[BaseException] = []
    await client.whoami()
    emulator.inject("GET", "/whoami", status=503, times=1)
    emulator.inject("GET", "/surveys", status=429, times=1)
    await client.whoami()
    _ = [s async for s in client.surveys.list()]
    emulator.inject("GET", "/whoami", status=400, times=1)
    emulator.inject("GET", "/whoami", status=500, times=10)
    emulator.inject("GET", "/whoami", html=True, status=502, times=10)
    for _ in range(3):
        try:
            await client.whoami()
        except QualtricsError as exc:
            raised.append(exc)
    emulator.clear_faults()
    emulator.inject("GET", "/surveys", next_page="https://evil.example.com/API/v3/surveys")
    try:
        _ = [s async for s in client.surveys.list()]
    except QualtricsError as exc:
        raised.append(exc)
    return raised


async def test_I1_api_token_never_appears_in_logs_reprs_or_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        async with (
            QualtricsEmulator(seed=1, api_token=SECRET_TOKEN) as emulator,
            make_client(emulator, api_token=SECRET_TOKEN) as client,
        ):
            raised = await _exercise(client, emulator)
            assert SECRET_TOKEN not in repr(client)
            assert SECRET_TOKEN not in repr(vars(client))
        try:
            await client.whoami()
        except QualtricsError as exc:
            raised.append(exc)
    assert len(raised) == 5
    for error in raised:
        for text in _texts(error):
            assert SECRET_TOKEN not in text
    assert caplog.records, "the scenario should have logged retries"
    for record in caplog.records:
        assert SECRET_TOKEN not in record.getMessage()
        assert SECRET_TOKEN not in caplog.text


async def test_I1_oauth_secret_and_access_token_never_leak(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with QualtricsEmulator(seed=1, client_secret=SECRET_CLIENT_SECRET) as emulator:
        with caplog.at_level(logging.DEBUG):
            client = make_client(emulator, client_id=emulator.client_id, client_secret=SECRET_CLIENT_SECRET)
            async with client:
                raised = await _exercise(client, emulator)
                session = client._open_session
                header = session.auth.cached_header()  # the minted token, to look for leaks
                assert header is not None
                access_token = header[1].removeprefix("Bearer ")
                assert len(access_token) > 8
                assert access_token not in repr(session.auth)
            bad = make_client(emulator, client_id=emulator.client_id, client_secret=SECRET_CLIENT_SECRET + "x")
            async with bad:
                try:
                    await bad.whoami()
                except QualtricsError as exc:
                    raised.append(exc)
    for error in raised:
        for text in _texts(error):
            assert SECRET_CLIENT_SECRET not in text
            assert access_token not in text
    assert SECRET_CLIENT_SECRET not in caplog.text
    assert access_token not in caplog.text


def test_I1_secret_type_masks_itself() -> None:
    secret = Secret("abcd-1234-efgh")
    assert "abcd-1234-efgh" not in repr(secret)
    assert "abcd-1234-efgh" not in str(secret)
    assert "abcd-1234-efgh" not in f"{secret}"
    assert secret.reveal() == "abcd-1234-efgh"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_I1_log_filter_masks_a_secret_that_slips_into_a_record() -> None:
    secret = Secret("leaky-value-123")
    record = logging.LogRecord("qualtrics_async", logging.INFO, __file__, 1, "header was %s", (secret.reveal(),), None)
    assert RedactingFilter().filter(record)
    assert "leaky-value-123" not in record.getMessage()
    assert "***" in record.getMessage()


async def test_I1_malformed_token_answer_never_echoes_the_access_token(
    emulator: QualtricsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    leaked = "ACCESS-TOKEN-abcdef123456"
    body = b'{"access_token": "' + leaked.encode() + b'", "expires_in": "soon"}'
    emulator.inject("POST", "/oauth2/token", body=body, content_type="application/json", times=10)
    client = make_client(emulator, client_id=emulator.client_id, client_secret=emulator.client_secret)
    with caplog.at_level(logging.DEBUG):
        async with client:
            with pytest.raises(QualtricsError, match="not a token") as info:
                await client.whoami()
    for text in _texts(info.value):
        assert leaked not in text
    assert leaked not in caplog.text


async def test_I1_the_log_filter_knows_the_minted_access_token(emulator: QualtricsEmulator) -> None:
    client = make_client(emulator, client_id=emulator.client_id, client_secret=emulator.client_secret)
    async with client:
        await client.whoami()
        header = client._open_session.auth.cached_header()
        assert header is not None
        access_token = header[1].removeprefix("Bearer ")
        gc.collect()
        record = logging.LogRecord("qualtrics_async", logging.INFO, __file__, 1, "oops %s", (access_token,), None)
        RedactingFilter().filter(record)
        assert access_token not in record.getMessage()
