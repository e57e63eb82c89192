"""Authentication against the emulator: API token, OAuth client credentials (C2, I1)."""

from __future__ import annotations

import time

import anyio
import pytest

from qualtrics_async import QualtricsClient, Timeouts
from qualtrics_async.errors import APITimeoutError, AuthenticationError, PermissionDeniedError, ServerError
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import make_client


async def test_api_token_authenticates(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        me = await client.whoami()
    assert me.user_id == emulator.data.whoami["userId"]
    assert me.brand_id == emulator.data.whoami["brandId"]


async def test_C2_bad_api_token_is_not_retried(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator, api_token="wrong-token-12345") as client:
        with pytest.raises(AuthenticationError) as info:
            await client.whoami()
    assert emulator.stats.requests == 1
    err = info.value
    assert err.status == 401
    assert err.request_id
    assert "QUALTRICS_API_TOKEN" in str(err)
    assert "wrong-token-12345" not in str(err)
    assert "wrong-token-12345" not in repr(err)


def _oauth(emulator: QualtricsEmulator, **overrides: object) -> QualtricsClient:
    options: dict[str, object] = {"client_id": emulator.client_id, "client_secret": emulator.client_secret}
    options.update(overrides)
    return make_client(emulator, **options)


async def test_C2_oauth_token_is_minted_once_for_50_concurrent_callers(emulator: QualtricsEmulator) -> None:
    async with _oauth(emulator) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(client.whoami)
        assert emulator.stats.tokens_issued == 1
        await client.whoami()
    assert emulator.stats.tokens_issued == 1


async def test_C2_oauth_401_refreshes_once_single_flight_for_50_waiters(emulator: QualtricsEmulator) -> None:
    async with _oauth(emulator) as client:
        await client.whoami()
        emulator.expire_tokens()  # every task's next attempt gets a 401 with the old token
        results = []

        async def call() -> None:
            results.append(await client.whoami())

        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(call)
    assert len(results) == 50
    assert emulator.stats.tokens_issued == 2  # one refresh, however many tasks saw the 401


async def test_C2_oauth_refreshes_before_expiry() -> None:
    async with QualtricsEmulator(seed=1, token_ttl=1.0) as emulator, _oauth(emulator) as client:
        await client.whoami()
        await anyio.sleep(0.95)  # inside the refresh margin (10 % of the lifetime)
        await client.whoami()  # still valid: used at once, the refresh starts in the background
        await anyio.sleep(0.3)  # the first token has expired by now
        await client.whoami()
        assert emulator.stats.tokens_issued == 2
        assert emulator.stats.statuses[401] == 0  # refreshed ahead of time, never rejected


async def test_C2_oauth_persistent_401_gives_up_after_one_refresh(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/whoami", status=401, times=10)
    async with _oauth(emulator) as client:
        with pytest.raises(AuthenticationError):
            await client.whoami()
    assert emulator.stats.by_route["GET /whoami"] == 2
    assert emulator.stats.tokens_issued == 2


async def test_C2_oauth_bad_client_secret_is_a_clear_error(emulator: QualtricsEmulator) -> None:
    async with _oauth(emulator, client_secret="not-the-secret-999") as client:
        with pytest.raises(AuthenticationError, match="client id and secret") as info:
            await client.whoami()
    assert "not-the-secret-999" not in str(info.value)
    assert emulator.stats.tokens_issued == 0


async def test_C2_oauth_sends_requested_scopes(emulator: QualtricsEmulator) -> None:
    async with _oauth(emulator, scopes=["read:surveys", "read:users"]) as client:
        me = await client.whoami()
    assert me.user_id


async def test_C2_token_minting_respects_the_call_deadline(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/oauth2/token", delay=3.0)
    async with _oauth(emulator, timeouts=Timeouts(attempt=10.0, call=0.5)) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="deadline"):
            await client.whoami()
    assert time.monotonic() - started < 1.5


async def test_C2_token_endpoint_5xx_is_retried_even_for_a_post(emulator: QualtricsEmulator) -> None:
    # The POST itself was never sent while the token was missing, so retrying it is safe.
    emulator.inject("POST", "/oauth2/token", status=503, times=2)
    emulator.inject("POST", "/directories/*/contacts", body=b'{"result": {"id": "CID_1"}, "meta": {"requestId": "r"}}')
    async with _oauth(emulator) as client:
        created = await client.request(
            "POST", f"/directories/{emulator.data.default_directory_id}/contacts", json={"firstName": "A"}
        )
    assert created == {"id": "CID_1"}
    assert emulator.stats.by_route["POST /directories/{directoryId}/contacts"] == 1
    assert emulator.stats.tokens_issued == 1


async def test_C2_token_endpoint_429_is_a_rate_limit_retried(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/oauth2/token", status=429, retry_after="0", times=1)
    async with _oauth(emulator) as client:
        assert (await client.whoami()).user_id
    assert emulator.stats.tokens_issued == 1


async def test_C2_token_endpoint_failing_for_good_gives_a_clear_error(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/oauth2/token", status=503, times=100)
    async with _oauth(emulator) as client:
        with pytest.raises(ServerError, match="OAuth token endpoint") as info:
            await client.whoami()
    assert info.value.attempts == 4
    assert emulator.stats.by_route.get("GET /whoami", 0) == 0  # the API call itself never went out


async def test_C2_a_failing_refresh_never_fails_calls_while_the_token_is_valid() -> None:
    async with QualtricsEmulator(seed=1, token_ttl=2.0) as emulator, _oauth(emulator) as client:
        await client.whoami()
        emulator.inject("POST", "/oauth2/token", status=503, times=100)
        await anyio.sleep(1.85)  # inside the refresh margin; the token endpoint is down
        for _ in range(5):
            assert (await client.whoami()).user_id
        assert emulator.stats.by_route["GET /whoami"] == 6
        token_requests = emulator.stats.faults_fired
        assert 1 <= token_requests <= 2  # one background refresh, retried a few seconds later at most


async def test_C2_a_caller_giving_up_does_not_cancel_the_shared_token_request(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/oauth2/token", delay=0.6)
    async with _oauth(emulator) as client:
        with pytest.raises(APITimeoutError):
            await client.request("GET", "/whoami", timeout=0.2)  # gives up while the token is minted
        assert (await client.whoami()).user_id  # the same token request completed meanwhile
    assert emulator.stats.tokens_issued == 1


async def test_C3_a_token_without_the_needed_scope_is_permission_denied(emulator: QualtricsEmulator) -> None:
    async with _oauth(emulator, scopes="read:surveys") as client:
        assert [s async for s in client.surveys.list()]
        with pytest.raises(PermissionDeniedError, match="read:directories") as info:
            await client.request("GET", "/directories")
    assert info.value.status == 403
    assert "scope" in str(info.value)
    assert emulator.stats.by_route["GET /directories"] == 1  # a 403 is never retried
