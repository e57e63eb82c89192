"""examples/fastapi_webhooks.py on a real uvicorn server over loopback, against the emulator (H4, I5, I1).

The test plays Qualtrics' part for webhooks: it posts form bodies signed here with hmac.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from examples.fastapi_webhooks import WEBHOOK_KEY_ENV, WEBHOOK_PATH, create_app
from qualtrics_async import QualtricsClient
from qualtrics_async.errors import ClientClosedError
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import make_client

WEBHOOK_KEY = "whk-SECRET-5c8e2a"
API_TOKEN = "tok-SECRET-a41f07"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def env_for(emulator: QualtricsEmulator, **extra: str) -> dict[str, str]:
    return {
        "QUALTRICS_BASE_URL": emulator.base_url,
        "QUALTRICS_API_TOKEN": API_TOKEN,
        WEBHOOK_KEY_ENV: WEBHOOK_KEY,
        **extra,
    }


def delivery(survey_id: str, response_id: str, *, key: str = WEBHOOK_KEY, brand: str = "emubrand") -> bytes:
    msg = json.dumps(
        {
            "Status": "Complete",
            "SurveyID": survey_id,
            "ResponseID": response_id,
            "CompletedDate": "2024-05-01 10:00:00",
            "BrandID": brand,
        },
        separators=(",", ":"),
    )
    signature = hmac.new(key.encode(), msg.encode(), hashlib.sha512).hexdigest()
    topic = f"{brand}.surveyengine.completedResponse.{survey_id}"
    return urllib.parse.urlencode({"Topic": topic, "MSG": msg, "HMAC": signature}).encode()


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app`` on a free loopback port with uvicorn (lifespan on) in this event loop."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", ws="none", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    raise RuntimeError("the server did not start")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        server.should_exit = True
        await task


async def wait_for(condition: Callable[[FastAPI], bool], app: FastAPI, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if condition(app):
                return
            await asyncio.sleep(0.01)


async def record_response(emulator: QualtricsEmulator) -> tuple[str, str]:
    """A response just recorded in the emulator: what a completedResponse event announces."""
    survey_id = str(emulator.data.surveys[0]["id"])
    async with make_client(emulator, api_token=API_TOKEN) as client:
        response_id = await client.responses.create(survey_id, {"values": {"finished": 1}})
    return survey_id, response_id


def assert_secret_free(texts: list[str]) -> None:
    for text in texts:
        assert WEBHOOK_KEY not in text
        assert API_TOKEN not in text


Target = tuple[str, str, FastAPI]
"""A survey id, a response just recorded in it, and the app (not started)."""


@pytest.fixture
async def target(emulator: QualtricsEmulator) -> Target:
    survey_id, response_id = await record_response(emulator)
    return survey_id, response_id, create_app(env_for(emulator))


@pytest.fixture
async def emulator() -> AsyncIterator[QualtricsEmulator]:
    async with QualtricsEmulator(seed=3, api_token=API_TOKEN, surveys=3, contacts=3) as emu:
        yield emu


async def test_H4_one_client_per_app_lifespan_serves_handlers(emulator: QualtricsEmulator) -> None:
    app = create_app(env_for(emulator))
    survey = emulator.data.surveys[0]
    async with serve(app) as http:
        client = app.state.qualtrics
        assert isinstance(client, QualtricsClient)
        answers = await asyncio.gather(*(http.get(f"/surveys/{survey['id']}") for _ in range(5)))
        assert [a.status_code for a in answers] == [200] * 5
        assert answers[0].json() == {"id": survey["id"], "name": survey["name"], "isActive": survey["isActive"]}
        assert app.state.qualtrics is client  # the same client for every request
        missing = await http.get("/surveys/SV_doesNotExist0")
        assert (missing.status_code, missing.json()) == (404, {"detail": "no such survey"})
        assert emulator.stats.by_route["GET /surveys/{surveyId}"] == 6  # each request called the API
    with pytest.raises(ClientClosedError):  # closed with the app
        await client.whoami()


async def test_H4_missing_webhook_key_fails_startup_clearly(
    emulator: QualtricsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    env = env_for(emulator)
    del env[WEBHOOK_KEY_ENV]
    config = uvicorn.Config(create_app(env), host="127.0.0.1", port=0, lifespan="on", ws="none", log_config=None)
    server = uvicorn.Server(config)
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit):
        async with asyncio.timeout(10):
            await server.serve()  # uvicorn exits (code 3) when the lifespan startup fails
    assert not server.started
    assert WEBHOOK_KEY_ENV in caplog.text
    assert API_TOKEN not in caplog.text


async def test_I5_valid_webhook_is_acknowledged_then_processed_once(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    survey_id, response_id, app = target
    body = delivery(survey_id, response_id)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        async with serve(app) as http:
            answer = await http.post(WEBHOOK_PATH, content=body, headers=FORM)
            texts.append(answer.text)
            assert answer.status_code == 200
            assert answer.json() == {"status": "accepted", "topic": f"surveyengine.completedResponse.{survey_id}"}
            await wait_for(lambda a: len(a.state.received) == 1, app)
            assert app.state.received[0].response_id == response_id
            again = await http.post(WEBHOOK_PATH, content=body, headers=FORM)  # a redelivery or a replay
            texts.append(again.text)
            assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
            await asyncio.sleep(0.1)
            assert len(app.state.received) == 1  # not processed twice
    assert_secret_free([*texts, caplog.text])
    assert f"fetched response {response_id}" in caplog.text


async def test_I5_forged_tampered_and_malformed_webhooks_are_rejected(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    survey_id, response_id, app = target
    good = delivery(survey_id, response_id)
    fields = urllib.parse.parse_qs(good.decode())
    tampered = urllib.parse.urlencode(
        {
            "Topic": fields["Topic"][0],
            "MSG": fields["MSG"][0].replace(response_id, "R_other"),
            "HMAC": fields["HMAC"][0],
        }
    ).encode()
    unsigned = urllib.parse.urlencode({"Topic": fields["Topic"][0], "MSG": fields["MSG"][0]}).encode()
    bad_msg = "{not json"
    malformed = urllib.parse.urlencode(
        {
            "Topic": fields["Topic"][0],
            "MSG": bad_msg,
            "HMAC": hmac.new(WEBHOOK_KEY.encode(), bad_msg.encode(), hashlib.sha512).hexdigest(),
        }
    ).encode()
    cases: list[tuple[bytes, Mapping[str, str], int]] = [
        (delivery(survey_id, response_id, key="attacker-key"), FORM, 401),
        (tampered, FORM, 401),
        (unsigned, FORM, 401),
        (malformed, FORM, 400),
        (good, {"content-type": "application/json"}, 400),
        (b"Topic=x&MSG=" + b"a" * 100_000, FORM, 400),
    ]
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        async with serve(app) as http:
            for body, headers, status in cases:
                answer = await http.post(WEBHOOK_PATH, content=body, headers=headers)
                texts.append(answer.text)
                assert answer.status_code == status, (status, answer.text)
            assert "content type" in texts[4]
            await asyncio.sleep(0.1)
            assert len(app.state.received) == 0  # nothing rejected was processed
            # The rejected forgeries did not poison the replay cache: the real delivery is accepted.
            real = await http.post(WEBHOOK_PATH, content=good, headers=FORM)
            texts.append(real.text)
            assert real.status_code == 200
            assert real.json()["status"] == "accepted"
            await wait_for(lambda a: len(a.state.received) == 1, app)
    assert_secret_free([*texts, caplog.text])
    assert "WebhookVerificationError" in caplog.text
